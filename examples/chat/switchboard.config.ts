// Settings for `npm start` (switchboard dev) in this example; flags and environment variables override them.
import { defineConfig } from '@switchboard/cli';

export default defineConfig({
  port: 3000,
  plugs: './plugs',
  public: './public',
});
