// Settings for `npm start` (switchboard dev) in this example; flags and environment variables override them.
// SWITCHBOARD_REDIS_URL, SWITCHBOARD_DATABASE_URL and SWITCHBOARD_NODE make it one node of a cluster
// (docker-compose.yml at the repository root runs two; docs/cluster.md).
import { defineConfig } from '@switchboard/cli';
import { auth } from './auth.ts';

export default defineConfig({
  port: 3000,
  plugs: './plugs',
  public: './public',
  // Tokens come from the demo sign-in (plugs/demo.ts); grants by role are in auth.ts.
  auth,
});
