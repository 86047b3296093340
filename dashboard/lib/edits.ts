// The editing tabs' requests that may make a deployment (docs/api.md): the Variables tab's PATCH and
// the Settings tab's "Deploy now". Each carries its submit's Idempotency-Key (submitKeys, lib/api.ts),
// so a submit sent twice, or again after its answer was lost, makes one deployment. The settings'
// own PATCH /v1/services/{id} takes no key: it makes nothing, and saving the same values twice is
// the same as once.

import { api } from "./api";
import type { Listing, VariablesPatch } from "./staging";
import type { Deployment } from "./types";

/** The PATCH's answer: the variables now, and the deployment that makes them live (null: no live release). */
export type Applied = Listing & { deployment: Deployment | null };

const servicePath = (id: string) => `/v1/services/${encodeURIComponent(id)}`;

export function applyVariables(serviceId: string, patch: VariablesPatch, key: string): Promise<Applied> {
  const headers = { "Idempotency-Key": key };
  return api<Applied>(`${servicePath(serviceId)}/variables`, { method: "PATCH", body: patch, headers });
}

export async function redeployService(serviceId: string, key: string): Promise<Deployment> {
  const headers = { "Idempotency-Key": key };
  const init = { method: "POST", body: { redeploy: true }, headers };
  return (await api<{ deployment: Deployment }>(`${servicePath(serviceId)}/deployments`, init)).deployment;
}
