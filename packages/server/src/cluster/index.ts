// @switchboard/server/cluster: one machine, many processes — the agent that supervises workers, and the
// bus, history and presence the workers share over the agent's IPC channel.
export { IpcBus } from './ipc-bus.ts';
export { IpcHistory } from './ipc-history.ts';
export { IpcPresence } from './ipc-presence.ts';
export { IpcLink } from './ipc-link.ts';
export { processPort, isClusterIpc } from './ipc.ts';
export type { IpcPort, WorkerToAgent, AgentToWorker, ConnectionSummary, HostedStore } from './ipc.ts';
export { ClusterHub, HubPeer } from './hub.ts';
export type { ClusterHubOptions, PeerReport } from './hub.ts';
export { Sequencer } from './sequencer.ts';
export { ClusterRegistry, WorkerState } from './registry.ts';
export type { WorkerInfo, WorkerExit, ConnectionEntry } from './registry.ts';
export { ClusterWorker, joinCluster, isClusterWorker, workerNode, WORKER_INDEX_ENV } from './worker.ts';
export type { ClusterServerOptions } from './worker.ts';
export { STALE_NODES_ENV } from './node-ledger.ts';
export { startAgent, portOf, ClusterFaultCode, AGENT_DEFAULTS } from './agent.ts';
export type { Agent, AgentOptions, ClusterStatus, ReloadResult } from './agent.ts';
