/**
 * Loaded before every test file (.mocharc.json). The runs the tests start
 * take no warm judge and start none (scripts/lib/warm-judge.ts): it would
 * outlive `npm test` by 15 minutes. test/warm-judge.test.ts turns it on
 * where it tests it.
 */
process.env.GRPC_LABS_WARM_JUDGE ??= "0";
