// Settings for `npm start` (switchboard dev) in this example; flags and environment variables override them.
import { defineConfig } from '@switchboard/cli';
import { auth } from './auth.ts';
import { clusterOptions } from './cluster.ts';

export default defineConfig({
  port: 3000,
  plugs: './plugs',
  public: './public',
  // Tokens come from the demo sign-in (plugs/demo.ts); grants by role are in auth.ts.
  auth,
  // REDIS_URL / DATABASE_URL / SWITCHBOARD_NODE make it one node of a cluster (cluster.ts); unset, one process.
  ...(await clusterOptions(process.env)),
});
