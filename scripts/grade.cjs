#!/usr/bin/env node
// Entry point of `npm run grade` (docs/instructor-guide.md); TypeScript loaded by tsx, like the runner.
require("tsx/cjs");
require("./grade/cli.ts").main(process.argv.slice(2));
