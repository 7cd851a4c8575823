// The presence lobby: signed-in users see who is online with name and role; a user with two tabs counts once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PresenceMember } from '@switchboard/client';
import { LOBBY_CHANNEL } from '../auth.ts';
import { nextValue, signIn, startExampleServer } from './helpers.ts';

type LobbyInfo = { name: string; role: string };

test('members see each other, with the name and role from their tokens, as they join and leave', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'staff');
  const adaLobby = ada.subscribe<never, LobbyInfo>(LOBBY_CHANNEL);
  await adaLobby.ready;
  assert.deepEqual([...adaLobby.members], [['ada', { name: 'Ada', role: 'staff' }]]);

  const joined = nextValue<PresenceMember<LobbyInfo>>((callback) => adaLobby.on('join', callback));
  using bob = await signIn(server, 'Bob', 'customer');
  const bobLobby = bob.subscribe<never, LobbyInfo>(LOBBY_CHANNEL);
  await bobLobby.ready;
  assert.deepEqual((await joined).info, { name: 'Bob', role: 'customer' });
  assert.deepEqual(new Map(bobLobby.members), new Map([
    ['ada', { name: 'Ada', role: 'staff' }],
    ['bob', { name: 'Bob', role: 'customer' }],
  ]));

  const left = nextValue<PresenceMember<LobbyInfo>>((callback) => adaLobby.on('leave', callback));
  bob.close();
  assert.equal((await left).id, 'bob');
  assert.deepEqual([...adaLobby.members.keys()], ['ada']);
});

test('two tabs of one user are one member, who leaves with the last tab', async () => {
  await using server = await startExampleServer();
  using watcher = await signIn(server, 'Bob', 'customer');
  const lobby = watcher.subscribe<never, LobbyInfo>(LOBBY_CHANNEL);
  await lobby.ready;
  const joins: string[] = [];
  const leaves: string[] = [];
  lobby.on('join', (member) => joins.push(member.id));
  lobby.on('leave', (member) => leaves.push(member.id));

  using firstTab = await signIn(server, 'Ada', 'staff');
  await firstTab.subscribe(LOBBY_CHANNEL).ready;
  using secondTab = await signIn(server, 'Ada', 'staff');
  const second = secondTab.subscribe<never, LobbyInfo>(LOBBY_CHANNEL);
  await second.ready;
  assert.deepEqual([...second.members.keys()].sort(), ['ada', 'bob']);
  assert.deepEqual((await server.server.members(LOBBY_CHANNEL)).map((member) => member.id).sort(), ['ada', 'bob']);

  // Closing one tab is not leaving: once the server has let go of that connection, Ada is still a member.
  const closed = nextValue<unknown>((callback) => {
    server.server.events.on('close', callback);
    return () => server.server.events.off('close', callback);
  });
  secondTab.close();
  await closed;
  assert.deepEqual((await server.server.members(LOBBY_CHANNEL)).map((member) => member.id).sort(), ['ada', 'bob']);
  // A round trip on the watcher's connection: a leave pushed before it would have arrived by now.
  await watcher.request('chat.history', {});
  assert.deepEqual(leaves, []);

  const left = nextValue<PresenceMember<LobbyInfo>>((callback) => lobby.on('leave', callback));
  firstTab.close();
  assert.equal((await left).id, 'ada');
  assert.deepEqual(joins, ['ada']);
  assert.deepEqual(leaves, ['ada']);
});
