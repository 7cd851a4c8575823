// The plug registry: installs, replaces and removes plugs atomically, and derives routes, hooks and the manifest.
import type { Logger } from 'pino';
import type { ServerApi } from '../api.ts';
import { DevErrorCode, SwitchboardError } from '../errors.ts';
import type { AnyPlug, Hooks, MessageDefinition, Schema } from './define.ts';
import {
  buildManifest,
  manifestShape,
  eventEntries,
  jsonSchemaOf,
  pushEntries,
  resourceEntries,
  roomEntries,
  type Manifest,
  type ManifestEntry,
  type ManifestEvent,
  type ManifestPush,
} from './manifest.ts';
import { validatePlug } from './validate.ts';
import type { Resource, ResourceHandle } from '../resource/define.ts';

/**
 * Runs on a valid plug before its onLoad: the live-data feature starts its resources and returns their
 * handles (`ctx.resources`). Throwing rejects the plug.
 */
export type PreparePlug = (plug: AnyPlug, where: string) => Promise<Record<string, ResourceHandle>>;
import { buildRoute, hookEntries as entries, routeHooks, type HookEntry, type Route, type RouteOwner } from './route.ts';

/** A plug version that is serving. */
export interface LoadedPlug extends RouteOwner {
  readonly name: string;
  readonly version: string;
  /** The file it came from; undefined for plugs passed to createServer. */
  readonly file: string | undefined;
  readonly definition: AnyPlug;
  readonly state: Map<string, unknown>;
  readonly manifestEntries: ManifestEntry[];
  /** What it was loaded from: its file's content hash ('static' for plugs passed to createServer). */
  readonly source: string;
  readonly resources: Readonly<Record<string, ResourceHandle>>;
}

export type { Route, HookEntry };

/** What changed in one swap. */
export interface SwapResult {
  plug: LoadedPlug;
  previous: LoadedPlug | undefined;
  /**
   * Whether a type, schema or description changed: what clients must be told. A save that changes only a
   * handler's code (and so the plug's content-hash version) does not push a new manifest to every client.
   */
  manifestChanged: boolean;
}


/**
 * Holds the plugs that serve. Every change builds new route and hook tables and swaps them in one
 * assignment: a message already dispatched keeps the route it got; the next one sees the new table.
 */
export class PlugRegistry {
  /** The routing table; replaced, never mutated. */
  routes: ReadonlyMap<string, Route> = new Map();
  onConnect: HookEntry<'onConnect'>[] = [];
  /** In reverse order: teardown runs last-registered first. */
  onDisconnect: HookEntry<'onDisconnect'>[] = [];
  manifest: Manifest = buildManifest([]);
  /** Push type → the schema of its data, from the plugs' `pushes`; replaced, never mutated. */
  pushSchemas: ReadonlyMap<string, Schema> = new Map();
  /** Channel event → the schema of its data, from the plugs' `events`; replaced, never mutated. */
  eventSchemas: ReadonlyMap<string, Schema> = new Map();

  private plugs = new Map<string, LoadedPlug>();
  /** What clients can see of the manifest: types and schemas, not plug versions (see SwapResult). */
  private shape = '';
  private readonly states = new Map<string, Map<string, unknown>>();
  private readonly globalHooks: Hooks;
  private readonly api: ServerApi;
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly prepare: PreparePlug | undefined;

  constructor(globalHooks: Hooks, api: ServerApi, log: Logger, prepare?: PreparePlug) {
    this.globalHooks = globalHooks;
    this.api = api;
    this.log = log;
    this.prepare = prepare;
    this.rebuild();
  }

  list(): LoadedPlug[] {
    return [...this.plugs.values()];
  }

  get(name: string): LoadedPlug | undefined {
    return this.plugs.get(name);
  }

  byFile(file: string): LoadedPlug | undefined {
    for (const plug of this.plugs.values()) if (plug.file === file) return plug;
    return undefined;
  }

  /**
   * Installs a plug, or replaces the serving version of the same plug. Throws SwitchboardError (and
   * changes nothing) when the definition is invalid, conflicts with another plug, or its onLoad throws.
   */
  install(definition: unknown, source: { file?: string; version: string }): Promise<SwapResult> {
    return this.serial(() => this.installNow(definition, source));
  }

  /** Removes a plug by name (or the plug loaded from a file). Resolves to the removed version. */
  remove(target: { name?: string; file?: string }): Promise<LoadedPlug | undefined> {
    return this.serial(async () => {
      const plug = target.name !== undefined ? this.plugs.get(target.name) : this.byFile(target.file ?? '');
      if (!plug) return undefined;
      const next = new Map(this.plugs);
      next.delete(plug.name);
      this.plugs = next;
      this.rebuild();
      await this.unload(plug);
      return plug;
    });
  }

  /** Removes every plug, last loaded first (shutdown). */
  async clear(): Promise<void> {
    for (const plug of [...this.plugs.values()].reverse()) await this.remove({ name: plug.name });
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async installNow(definition: unknown, source: { file?: string; version: string }): Promise<SwapResult> {
    const where = source.file ?? 'createServer({ plugs })';
    const problems = validatePlug(definition);
    if (problems.length > 0) {
      throw new SwitchboardError(DevErrorCode.plugInvalid, `${where}: ${problems.join('; ')}`);
    }
    const plug = definition as AnyPlug;
    const previous = this.plugs.get(plug.name);
    if (previous && previous.file !== source.file) {
      throw new SwitchboardError(
        DevErrorCode.plugConflict,
        `${where}: plug name "${plug.name}" is already used by ${previous.file ?? 'a static plug'}; rename one of them`,
      );
    }
    // A file whose plug changed its name replaces the plug it held before.
    const renamedFrom = source.file !== undefined ? this.byFile(source.file) : undefined;
    const replaced = new Set([plug.name, renamedFrom?.name]);
    for (const type of Object.keys(plug.messages)) {
      const owner = this.routes.get(type)?.plug;
      if (owner && !replaced.has(owner.name)) {
        throw new SwitchboardError(
          DevErrorCode.plugConflict,
          `${where}: message type "${type}" is already handled by plug "${owner.name}"${this.plugs.get(owner.name)?.file ? ` (${this.plugs.get(owner.name)?.file})` : ''}; a message type belongs to one plug`,
        );
      }
    }
    // A push type or channel event has one schema: the client's types and the manifest are keyed by name.
    const declared = plug as { pushes?: Record<string, unknown>; events?: Record<string, unknown> };
    for (const other of this.plugs.values()) {
      if (replaced.has(other.name)) continue;
      const theirs = other.definition as { pushes?: Record<string, unknown>; events?: Record<string, unknown> };
      for (const [kind, mine, their] of [
        ['push type', declared.pushes, theirs.pushes],
        ['channel event', declared.events, theirs.events],
      ] as const) {
        const clash = Object.keys(mine ?? {}).find((name) => Object.hasOwn(their ?? {}, name));
        if (clash !== undefined) {
          throw new SwitchboardError(
            DevErrorCode.plugConflict,
            `${where}: ${kind} "${clash}" is already declared by plug "${other.name}"${other.file ? ` (${other.file})` : ''}; declare it in one plug`,
          );
        }
      }
    }
    const resources = Object.freeze((await this.prepare?.(plug, where)) ?? {});
    let state = this.states.get(plug.name);
    if (!state) {
      state = new Map();
      this.states.set(plug.name, state);
    }
    const version = plug.version ?? source.version;
    if (plug.onLoad) {
      try {
        await plug.onLoad(this.api, state);
      } catch (error) {
        throw new SwitchboardError(DevErrorCode.plugOnLoadFailed, `${where}: onLoad threw: ${(error as Error)?.message ?? error}`, {
          cause: error,
        });
      }
    }
    const manifestEntries = Object.entries(plug.messages as Record<string, MessageDefinition>).map(([type, message]) => {
      const entry: ManifestEntry = { type, plug: plug.name, plugVersion: version, input: jsonSchemaOf(message.input, 'input') };
      if (message.description) entry.description = message.description;
      if (message.output) entry.output = jsonSchemaOf(message.output, 'output');
      return entry;
    });
    const loaded: LoadedPlug = { name: plug.name, version, file: source.file, definition: plug, state, manifestEntries, source: source.version, resources };
    const next = new Map(this.plugs);
    if (renamedFrom && renamedFrom.name !== plug.name) next.delete(renamedFrom.name);
    next.set(plug.name, loaded);
    const before = this.shape;
    this.plugs = next;
    this.rebuild();
    if (previous) await this.unload(previous);
    if (renamedFrom && renamedFrom.name !== plug.name) await this.unload(renamedFrom);
    return { plug: loaded, previous: previous ?? renamedFrom, manifestChanged: before !== this.shape };
  }

  private async unload(plug: LoadedPlug): Promise<void> {
    if (!plug.definition.onUnload) return;
    try {
      await plug.definition.onUnload(this.api, plug.state);
    } catch (error) {
      this.log.error({ err: error, plug: plug.name, version: plug.version }, 'plug onUnload threw');
    }
  }

  private rebuild(): void {
    const global = this.globalHooks;
    const routes = new Map<string, Route>();
    const onConnect = entries<'onConnect'>('global', global.onConnect);
    const onDisconnect = entries<'onDisconnect'>('global', global.onDisconnect);
    const manifestEntries: ManifestEntry[] = [];
    const pushSchemas = new Map<string, Schema>();
    const eventSchemas = new Map<string, Schema>();
    const pushes: ManifestPush[] = [];
    const events: ManifestEvent[] = [];
    const resources = [];
    const rooms = [];
    for (const plug of this.plugs.values()) {
      const hooks = plug.definition.hooks ?? {};
      const owned = routeHooks(global, plug.name, hooks);
      for (const [type, definition] of Object.entries(plug.definition.messages as Record<string, MessageDefinition>)) {
        routes.set(type, buildRoute(type, plug, definition, owned, false));
      }
      onConnect.push(...entries<'onConnect'>(plug.name, hooks.onConnect));
      onDisconnect.push(...entries<'onDisconnect'>(plug.name, hooks.onDisconnect));
      manifestEntries.push(...plug.manifestEntries);
      const declaredPushes: Record<string, Schema> = plug.definition.pushes ?? {};
      const declaredEvents: Record<string, Schema> = plug.definition.events ?? {};
      // The first plug (in load order) that declares a name owns its schema.
      for (const [type, schema] of Object.entries(declaredPushes)) if (!pushSchemas.has(type)) pushSchemas.set(type, schema);
      for (const [event, schema] of Object.entries(declaredEvents)) if (!eventSchemas.has(event)) eventSchemas.set(event, schema);
      pushes.push(...pushEntries(plug.name, plug.version, declaredPushes));
      events.push(...eventEntries(plug.name, plug.version, declaredEvents));
      resources.push(...resourceEntries(plug.name, plug.version, (plug.definition as { resources?: Record<string, Resource> }).resources));
      rooms.push(...roomEntries(plug.name, plug.version, plug.definition.rooms));
    }
    this.routes = routes;
    this.onConnect = onConnect;
    this.onDisconnect = onDisconnect.reverse();
    this.pushSchemas = pushSchemas;
    this.eventSchemas = eventSchemas;
    this.manifest = buildManifest(manifestEntries, pushes, events, resources, rooms);
    this.shape = manifestShape(this.manifest);
  }
}
