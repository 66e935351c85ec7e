// Validate glb files with the Khronos glTF Validator; prints one JSON summary, exits 1 on any error.
// Usage: node tools/validate-glb.mjs FILE...
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const validator = require("gltf-validator");
let errors = 0;
const reports = [];
for (const file of process.argv.slice(2)) {
  const report = await validator.validateBytes(new Uint8Array(readFileSync(file)), { uri: file });
  errors += report.issues.numErrors;
  reports.push({ file, errors: report.issues.numErrors, warnings: report.issues.numWarnings,
    messages: report.issues.messages.filter((m) => m.severity === 0).slice(0, 5) });
}
console.log(JSON.stringify({ files: reports.length, errors, reports: reports.filter((r) => r.errors) }));
process.exit(errors ? 1 : 0);
