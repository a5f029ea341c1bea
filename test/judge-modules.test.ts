/**
 * What a lab's checks load into the judge is noted after a run and loaded by
 * the warm judge for the lab's next run (scripts/lib/judge-modules.ts): only
 * from the workspace's packages and scripts/, never from a cache (the
 * subjects' transpiled files are there) or from elsewhere.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isPackageSpecifier } from "../scripts/check-kit/subject";
import { notedPackages, noteLabModules, preloadLabModules } from "../scripts/lib/judge-modules";
import { workspaceRoot } from "../scripts/lib/labs";

describe("modules the warm judge loads for a lab's next run", () => {
  const labId = "00-judge-modules-test";
  const notes = path.join(workspaceRoot, "node_modules", ".cache", "grpc-labs", "judge-modules", `${labId}.json`);
  const cached = path.join(workspaceRoot, "node_modules", ".cache", "grpc-labs", `judge-modules-test-${process.pid}.js`);
  const outside = path.join(os.tmpdir(), `judge-modules-test-${process.pid}.js`);
  const marks = globalThis as { loadedFromCache?: boolean; loadedFromOutside?: boolean };

  const aPackageFile = () => fs.realpathSync(require.resolve("ms"));

  after(() => {
    for (const file of [notes, cached, outside]) fs.rmSync(file, { force: true });
  });

  it("loads what was noted from the packages and scripts/, and nothing from a cache or outside the workspace", () => {
    fs.writeFileSync(cached, "globalThis.loadedFromCache = true;\n");
    fs.writeFileSync(outside, "globalThis.loadedFromOutside = true;\n");
    const aPackage = aPackageFile();
    const aScript = path.join(workspaceRoot, "scripts", "lib", "diff.ts");
    delete require.cache[aPackage];
    noteLabModules(labId, [aPackage, cached, outside, aScript, path.join(workspaceRoot, "node_modules", "no-such-package", "index.js")], []);

    assert.deepEqual(preloadLabModules(labId), [aPackage, aScript]);
    assert.ok(require.cache[aPackage], "the package was loaded");
    assert.equal(marks.loadedFromCache, undefined, "a file in node_modules/.cache was loaded");
    assert.equal(marks.loadedFromOutside, undefined, "a file outside the workspace was loaded");
  });

  it("loads nothing for a lab with no notes, or with notes that are not a list", () => {
    fs.rmSync(notes, { force: true });
    assert.deepEqual(preloadLabModules(labId), []);
    assert.deepEqual(notedPackages(labId), []);
    fs.writeFileSync(notes, JSON.stringify({ file: "x" }));
    assert.deepEqual(preloadLabModules(labId), []);
    fs.writeFileSync(notes, JSON.stringify([aPackageFile()]));
    assert.deepEqual(notedPackages(labId), [], "a note of the earlier form (a list of the judge's files) names no package");
  });

  it("notes the packages the code under test required, for the subject prepared for the next run", () => {
    noteLabModules(labId, [], ["jose", "@opentelemetry/api", "@bufbuild/protobuf/wire", "jose"]);
    assert.deepEqual(notedPackages(labId), ["jose", "@opentelemetry/api", "@bufbuild/protobuf/wire"]);
  });

  it("sends a subject only bare names of installed packages: not Node's own modules, paths, or a way out of a package", () => {
    for (const name of ["jose", "prom-client", "@opentelemetry/api", "@bufbuild/protobuf/wire", "@grpc/grpc-js"]) assert.ok(isPackageSpecifier(name), name);
    for (const name of ["fs", "node:fs", "node:test", "./server", "../gen/x", "/etc/passwd", "C:\\x", "jose/../../../etc", "@scope", "", 42]) assert.ok(!isPackageSpecifier(name), String(name));
  });
});
