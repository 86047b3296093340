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

export type Access = { grants: Grant[]; workspaceId: string | null } | null;

/** Whether a grant reaches this service: its workspace (when known) and any narrower scope. */
function reaches(grant: Grant, where: Where, workspaceId: string | null): boolean {
  return (
    (workspaceId === null || grant.workspaceId === workspaceId) &&
    (!grant.projectId || grant.projectId === where.projectId) &&
    (!grant.environmentId || grant.environmentId === where.environmentId) &&
    (!grant.serviceId || grant.serviceId === where.serviceId)
  );
}

/** false when no grant of the caller allows `action` here; true when one does; null while unknown. */
export function allows(access: Access, action: string, where: Where | null): boolean | null {
  if (!access || !where) return null;
  const reaching = access.grants.filter((grant) => reaches(grant, where, access.workspaceId));
  const allowed = reaching.map((grant) => grant.actions.includes(action));
  if (allowed.every(Boolean) && allowed.length > 0) return true;
  if (!allowed.some(Boolean)) return false;
  return access.workspaceId === null ? null : true; // grants of several workspaces disagree: unknown
}

let whoami: Promise<Grant[]> | null = null;

/** The caller's grants and, when they span workspaces, which one holds this service's project (an
 * API answer does not name a project's workspace: GET /v1/projects?workspaceId= lists them). */
export function useAccess(projectId: string | null): Access {
  const [access, setAccess] = useState<Access>(null);
  useEffect(() => {
    if (!projectId) return;
    let stopped = false;
    whoami ??= api<{ whoami: { grants: Grant[] } }>("/v1/whoami").then((body) => body.whoami.grants);
    whoami
      .then(async (grants) => {
        const workspaces = [...new Set(grants.map((g) => g.workspaceId))];
        let workspaceId: string | null = workspaces.length === 1 ? workspaces[0] : null;
        if (workspaces.length > 1) {
          const lists = await Promise.all(
            workspaces.map((w) =>
              api<{ projects: { id: string }[] }>(`/v1/projects?workspaceId=${encodeURIComponent(w)}`).catch(() => ({
                projects: [],
              })),
            ),
          );
          workspaceId = workspaces.find((_, i) => lists[i].projects.some((p) => p.id === projectId)) ?? null;
        }
        if (!stopped) setAccess({ grants, workspaceId });
      })
      .catch(() => {
        whoami = null; // unknown: leave the controls on, the API still answers 403
      });
    return () => {
      stopped = true;
    };
  }, [projectId]);
  return access;
}

/** The sentence beside controls the caller's role may not use. */
export const notAllowed = (action: string) =>
  `Your role here does not include ${action}: you can read what is shown, and the API refuses changes (403).`;
