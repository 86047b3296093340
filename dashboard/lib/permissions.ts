// Whether the signed-in caller may do an action to a service, from GET /v1/whoami's grants (the same
// actions chalicelib/domain/policy.py checks). Only to switch edit controls off with a sentence; the
// API decides every request, and its 403 is shown in words too.
"use client";

import { useEffect, useState } from "react";
import { api } from "./api";

export type Grant = {
  workspaceId: string;
  projectId?: string;
  environmentId?: string;
  serviceId?: string;
  role: string | null;
  actions: string[];
};

export type Where = { projectId: string; environmentId: string; serviceId: string };

/** A grant narrowed to another project, environment or service does not reach this one. A
 * workspace-wide grant may (the service's workspace is not in its answer): the API settles it. */
function reaches(grant: Grant, where: Where): boolean {
  return (
    (!grant.projectId || grant.projectId === where.projectId) &&
    (!grant.environmentId || grant.environmentId === where.environmentId) &&
    (!grant.serviceId || grant.serviceId === where.serviceId)
  );
}

/** false when no grant of the caller allows `action` here; true when one may; null while unknown. */
export function allows(grants: Grant[] | null, action: string, where: Where | null): boolean | null {
  if (!grants || !where) return null;
  return grants.some((grant) => reaches(grant, where) && grant.actions.includes(action));
}

let whoami: Promise<Grant[]> | null = null;

export function useGrants(): Grant[] | null {
  const [grants, setGrants] = useState<Grant[] | null>(null);
  useEffect(() => {
    whoami ??= api<{ whoami: { grants: Grant[] } }>("/v1/whoami").then((body) => body.whoami.grants);
    whoami.then(setGrants, () => {
      whoami = null; // unknown: leave the controls on, the API still answers 403
    });
  }, []);
  return grants;
}

/** The sentence beside controls the caller's role may not use. */
export const notAllowed = (action: string) =>
  `Your role here does not include ${action}: you can read what is shown, and the API refuses changes (403).`;
