/**
 * Runs once before every test file. Shared, expensive fixtures (a Postgres server) are started
 * here on demand by the files that need them; see test/support/.
 */
export default function setup(): void {}
