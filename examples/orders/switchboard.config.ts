// Settings for `npm start` (switchboard dev) in this example; flags and environment variables override them.
import { defineConfig } from '@switchboard/cli';
import { auth } from './auth.ts';

export default defineConfig({
  // Not 3000, so that the chat example can run beside it.
  port: 3001,
  plugs: './plugs',
  public: './public',
  // Tokens come from the demo sign-in (plugs/demo.ts); grants by role are in auth.ts.
  auth,
});
