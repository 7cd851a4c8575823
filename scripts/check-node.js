// Stops `npm start` and `npm test` in this repository with one line when Node is too old for them.
// Plain JavaScript on purpose: it must run on any Node, where the TypeScript sources would not parse.
const MINIMUM = [22, 18]; // keep in step with "engines" in package.json (a test checks it)
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < MINIMUM[0] || (major === MINIMUM[0] && minor < MINIMUM[1])) {
  console.error(
    `switchboard: Node.js ${process.versions.node} found; ${MINIMUM.join('.')} or newer is needed (24 recommended). ` +
      'Get it from https://nodejs.org, with nvm (nvm install 24), or as .ci/run does: ' +
      'npm i --prefix ~/.node24 node@24 && export PATH=~/.node24/node_modules/.bin:$PATH',
  );
  process.exit(1);
}
