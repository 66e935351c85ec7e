/* Geodesy and codes for the portal, without libraries: geodesic distance (Vincenty's inverse on
   the WGS84 ellipsoid), geodesic area (exact equal-area map of the ellipsoid to the authalic
   sphere, then the spherical polygon formula), GCJ-02 → WGS84 (the public forward formula and
   the same fixed-point inverse as spatial/webdatum.py: there is no conversion endpoint yet), the
   GB/T 12409-style geographic grid code of spatial/grid/codes.py read back into its cell, and
   the search box's reading of what was typed. Exposed as window.PortalGeo. */
(function () {
  "use strict";
  var A = 6378137.0, F = 1 / 298.257223563, B = A * (1 - F);
  var E2 = F * (2 - F), E = Math.sqrt(E2);
  var RAD = Math.PI / 180;

  /* metres between two [lon, lat] points along the ellipsoid (Vincenty 1975; ~mm accuracy) */
  function distance(p, q) {
    var L = (q[0] - p[0]) * RAD;
    var U1 = Math.atan((1 - F) * Math.tan(p[1] * RAD)), U2 = Math.atan((1 - F) * Math.tan(q[1] * RAD));
    var sinU1 = Math.sin(U1), cosU1 = Math.cos(U1), sinU2 = Math.sin(U2), cosU2 = Math.cos(U2);
    var lambda = L, prev, iter = 0, sinSigma, cosSigma, sigma, cosSqAlpha, cos2SigmaM;
    do {
      var sinLambda = Math.sin(lambda), cosLambda = Math.cos(lambda);
      sinSigma = Math.sqrt(Math.pow(cosU2 * sinLambda, 2) + Math.pow(cosU1 * sinU2 - sinU1 * cosU2 * cosLambda, 2));
      if (sinSigma === 0) { return 0; }
      cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosLambda;
      sigma = Math.atan2(sinSigma, cosSigma);
      var sinAlpha = cosU1 * cosU2 * sinLambda / sinSigma;
      cosSqAlpha = 1 - sinAlpha * sinAlpha;
      cos2SigmaM = cosSqAlpha !== 0 ? cosSigma - 2 * sinU1 * sinU2 / cosSqAlpha : 0;
      var C = F / 16 * cosSqAlpha * (4 + F * (4 - 3 * cosSqAlpha));
      prev = lambda;
      lambda = L + (1 - C) * F * sinAlpha * (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)));
    } while (Math.abs(lambda - prev) > 1e-12 && ++iter < 200);
    if (iter >= 200) { return haversine(p, q); }  /* near-antipodal points: never on a city map */
    var uSq = cosSqAlpha * (A * A - B * B) / (B * B);
    var bigA = 1 + uSq / 16384 * (4096 + uSq * (-768 + uSq * (320 - 175 * uSq)));
    var bigB = uSq / 1024 * (256 + uSq * (-128 + uSq * (74 - 47 * uSq)));
    var deltaSigma = bigB * sinSigma * (cos2SigmaM + bigB / 4 * (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM) -
      bigB / 6 * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) * (-3 + 4 * cos2SigmaM * cos2SigmaM)));
    return B * bigA * (sigma - deltaSigma);
  }

  function haversine(p, q) {
    var dLat = (q[1] - p[1]) * RAD, dLon = (q[0] - p[0]) * RAD;
    var h = Math.pow(Math.sin(dLat / 2), 2) + Math.cos(p[1] * RAD) * Math.cos(q[1] * RAD) * Math.pow(Math.sin(dLon / 2), 2);
    return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function lengthOf(points) {
    var total = 0;
    for (var i = 1; i < points.length; i += 1) { total += distance(points[i - 1], points[i]); }
    return total;
  }

  /* authalic latitude (radians) and radius: the sphere with the ellipsoid's area, mapped equal-area */
  function q(phi) {
    var s = Math.sin(phi);
    return (1 - E2) * (s / (1 - E2 * s * s) - Math.log((1 - E * s) / (1 + E * s)) / (2 * E));
  }
  var QP = q(Math.PI / 2);
  var R_AUTHALIC = A * Math.sqrt(QP / 2);
  function authalic(latDeg) { return Math.asin(Math.max(-1, Math.min(1, q(latDeg * RAD) / QP))); }

  /* square metres inside a ring of [lon, lat] points (either orientation; closed or not) */
  function area(ring) {
    var n = ring.length;
    if (n > 1 && ring[0][0] === ring[n - 1][0] && ring[0][1] === ring[n - 1][1]) { n -= 1; }
    if (n < 3) { return 0; }
    var total = 0;
    for (var i = 0; i < n; i += 1) {
      /* the spherical excess of the triangle edge–pole, exact for a great-circle edge */
      var p1 = ring[i], p2 = ring[(i + 1) % n];
      var dLon = (p2[0] - p1[0]) * RAD;
      if (dLon > Math.PI) { dLon -= 2 * Math.PI; } else if (dLon < -Math.PI) { dLon += 2 * Math.PI; }
      var t1 = Math.tan(authalic(p1[1]) / 2), t2 = Math.tan(authalic(p2[1]) / 2);
      total += 2 * Math.atan2(Math.tan(dLon / 2) * (t1 + t2), 1 + t1 * t2);
    }
    return Math.abs(total * R_AUTHALIC * R_AUTHALIC);
  }

  /* GCJ-02 (the published public algorithm, as spatial/webdatum.py) */
  var KA = 6378245.0, KEE = 0.00669342162296594323;
  function inChina(lon, lat) { return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271; }
  function offsetLat(x, y) {
    var r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    r += (20 * Math.sin(y * Math.PI) + 40 * Math.sin(y / 3 * Math.PI)) * 2 / 3;
    r += (160 * Math.sin(y / 12 * Math.PI) + 320 * Math.sin(y * Math.PI / 30)) * 2 / 3;
    return r;
  }
  function offsetLon(x, y) {
    var r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    r += (20 * Math.sin(x * Math.PI) + 40 * Math.sin(x / 3 * Math.PI)) * 2 / 3;
    r += (150 * Math.sin(x / 12 * Math.PI) + 300 * Math.sin(x / 30 * Math.PI)) * 2 / 3;
    return r;
  }
  function wgs84ToGcj02(lon, lat) {
    if (!inChina(lon, lat)) { return [lon, lat]; }
    var dLat = offsetLat(lon - 105, lat - 35), dLon = offsetLon(lon - 105, lat - 35);
    var radLat = lat * RAD, magic = Math.sin(radLat);
    magic = 1 - KEE * magic * magic;
    var sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180) / ((KA * (1 - KEE)) / (magic * sqrtMagic) * Math.PI);
    dLon = (dLon * 180) / (KA / sqrtMagic * Math.cos(radLat) * Math.PI);
    return [lon + dLon, lat + dLat];
  }
  function gcj02ToWgs84(lon, lat) {
    var x = lon, y = lat;
    for (var i = 0; i < 40; i += 1) {
      var f = wgs84ToGcj02(x, y), ex = f[0] - lon, ey = f[1] - lat;
      if (Math.abs(ex) < 1e-10 && Math.abs(ey) < 1e-10) { break; }
      x -= ex; y -= ey;
    }
    return [x, y];
  }

  /* a GB/T 12409-style code (quadrant, 3+2 digits of whole degrees, then a lon and a lat digit per
     finer level 10′, 1′, 10″, 1″) → {level, bounds [w, s, e, n]}; null when it is not one */
  var LEVELS = [["1d", 3600, 0], ["10m", 600, 6], ["1m", 60, 10], ["10s", 10, 6], ["1s", 1, 10]];
  function geoGridCell(code) {
    if (!/^[1-4]\d{5}(\d\d){0,4}$/.test(code)) { return null; }
    var lonDeg = parseInt(code.slice(1, 4), 10), latDeg = parseInt(code.slice(4, 6), 10);
    if (lonDeg > 179 || latDeg > 89) { return null; }
    var sx = lonDeg * 3600, sy = latDeg * 3600, level = 0;
    for (var pos = 6; pos < code.length; pos += 2) {
      level += 1;
      var dx = parseInt(code[pos], 10), dy = parseInt(code[pos + 1], 10);
      if (dx >= LEVELS[level][2] || dy >= LEVELS[level][2]) { return null; }
      sx += dx * LEVELS[level][1]; sy += dy * LEVELS[level][1];
    }
    var side = LEVELS[level][1];
    var x0 = sx / 3600, y0 = sy / 3600, x1 = (sx + side) / 3600, y1 = (sy + side) / 3600;
    var quadrant = code[0];
    if (quadrant === "2" || quadrant === "3") { var t = x0; x0 = -x1; x1 = -t; }
    if (quadrant === "3" || quadrant === "4") { var u = y0; y0 = -y1; y1 = -u; }
    return { code: code, level: LEVELS[level][0], bounds: [x0, y0, x1, y1] };
  }

  /* what the search box holds: {kind: "coords", lon, lat, swapped}, {kind: "cell", code} (a 15-digit
     unit-cell code), {kind: "geogrid", cell} or {kind: "text", text} */
  function readQuery(text) {
    var value = String(text || "").trim().replace(/[，、；;]/g, ",").replace(/\s+/g, " ");
    var m = value.match(/^(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)$/);
    if (m) {
      var a = parseFloat(m[1]), b = parseFloat(m[2]);
      if (Math.abs(a) <= 90 && Math.abs(b) > 90 && Math.abs(b) <= 180) { return { kind: "coords", lon: b, lat: a, swapped: true }; }
      if (Math.abs(a) <= 180 && Math.abs(b) <= 90) { return { kind: "coords", lon: a, lat: b, swapped: false }; }
    }
    if (/^\d{15}$/.test(value)) { return { kind: "cell", code: value }; }
    var cell = geoGridCell(value);
    if (cell) { return { kind: "geogrid", cell: cell }; }
    return { kind: "text", text: value };
  }

  window.PortalGeo = { distance: distance, lengthOf: lengthOf, area: area, wgs84ToGcj02: wgs84ToGcj02,
                       gcj02ToWgs84: gcj02ToWgs84, geoGridCell: geoGridCell, readQuery: readQuery };
})();
