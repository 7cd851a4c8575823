// Settings for `npm start` (switchboard dev) in this example; flags and environment variables override them.
import { defineConfig } from '@switchboard/cli';

export default defineConfig({
  // Not 3000 or 3001, so that the chat and orders examples can run beside it.
  port: 3002,
  plugs: './plugs',
  public: './public',
  // No sign-in: the rooms are `access: 'public'`, and every visitor is an anonymous member with a seat.
});
