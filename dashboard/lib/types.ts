// The API's shapes the dashboard reads (docs/api.md "Shapes"): only the fields it shows.

export type Workspace = { id: string; name: string; role: string | null };
export type Project = { id: string; name: string; createdAt: string };
export type Environment = { id: string; projectId: string; name: string };
export type Service = {
  id: string;
  projectId: string;
  environmentId: string;
  name: string;
  hostname: string;
  url: string | null;
  workload: string;
  settings: { numReplicas?: number | null } & Record<string, unknown>;
  activeDeploymentId: string | null;
  activeReleaseId: string | null;
};
export type BuildCache = { artifact?: string; deps?: string; savedSeconds?: number } | null;
// Who made a deployment (ADR 0042); null on deployments made before it was recorded.
export type DeploymentActor = { kind: string; name: string; userId: string | null; label: string };
export type Deployment = {
  id: string;
  serviceId: string;
  kind: "source" | "redeploy" | "rollback" | "promotion";
  status: string;
  reason: string | null;
  releaseId?: string | null;
  releaseNumber: number | null;
  buildCached: boolean;
  buildCache: BuildCache;
  url: string | null;
  commitSha?: string | null;
  createdBy?: DeploymentActor | null;
  createdAt: string;
  updatedAt: string;
};
export type LogLine = { seq: number; ts: string; message: string };
export type LogPage = { lines: LogLine[]; next: number; done: boolean };
