"use client";

// A service's settings: the deploy settings (checked before sending by the rules the API publishes;
// applied at the next deployment, with "Deploy now") and its custom domains.

import { Suspense, useEffect, useState } from "react";
import { useSearchParams } from "next/navigation";
import { ServiceFrame } from "@/components/ServiceFrame";
import { DomainsEditor, type Domain } from "@/components/DomainsEditor";
import { SettingsForm } from "@/components/SettingsForm";
import styles from "@/components/editing.module.css";
import { api } from "@/lib/api";
import { redeployService } from "@/lib/edits";
import { allows, notAllowed, useAccess } from "@/lib/permissions";
import { loadRules, type Rules } from "@/lib/rules";
import type { Project, Service } from "@/lib/types";
import { usePolled } from "@/lib/usePolled";

async function loadSettings(id: string) {
  const path = `/v1/services/${encodeURIComponent(id)}`;
  const [{ service }, { domains }] = await Promise.all([
    api<{ service: Service }>(path),
    api<{ domains: Domain[] }>(`${path}/domains`),
  ]);
  const { project } = await api<{ project: Project }>(`/v1/projects/${encodeURIComponent(service.projectId)}`);
  return { service, domains, project };
}

function SettingsView() {
  const id = useSearchParams().get("id") ?? "";
  const path = `/v1/services/${encodeURIComponent(id)}`;
  const { data, error } = usePolled(id ? () => loadSettings(id) : null, id);
  const [rules, setRules] = useState<Rules | null>(null);
  // What a change answered, shown until the next poll brings the same
  const [freshService, setFreshService] = useState<Service | null>(null);
  const [freshDomains, setFreshDomains] = useState<Domain[] | null>(null);
  useEffect(() => {
    loadRules().then(setRules, () => undefined); // without them the API's own checks still answer
  }, []);
  useEffect(() => {
    setFreshService(null);
    setFreshDomains(null);
  }, [data]);

  const service = freshService ?? data?.service;
  const access = useAccess(service?.projectId ?? null);
  const where = service ? { projectId: service.projectId, environmentId: service.environmentId, serviceId: service.id } : null;
  const canManage = allows(access, "manage", where);
  const canDeploy = allows(access, "deploy", where);

  async function save(settings: Record<string, string | number | null>) {
    const { service: saved } = await api<{ service: Service }>(path, { method: "PATCH", body: { settings } });
    setFreshService(saved);
    return saved;
  }

  const redeploy = (idempotencyKey: string) => redeployService(id, idempotencyKey);

  async function domainsChanged() {
    const { domains } = await api<{ domains: Domain[] }>(`${path}/domains`);
    setFreshDomains(domains);
  }

  return (
    <ServiceFrame id={id} tab="Settings" service={service} project={data?.project} loaded={!!data} error={error}>
      {canManage === false && <p className={styles.note}>{notAllowed("manage")}</p>}
      {service && data && (
        <>
          <section aria-labelledby="deploy-settings">
            <h2 id="deploy-settings">Deploy</h2>
            <p className={styles.note}>Changes apply at the service&apos;s next deployment.</p>
            <SettingsForm
              service={service}
              rules={rules}
              canManage={canManage}
              canDeploy={canDeploy}
              save={save}
              redeploy={redeploy}
            />
          </section>
          <section aria-labelledby="domains">
            <h2 id="domains">Custom domains</h2>
            <DomainsEditor
              serviceId={service.id}
              domains={freshDomains ?? data.domains}
              canManage={canManage}
              changed={domainsChanged}
            />
          </section>
        </>
      )}
    </ServiceFrame>
  );
}

export default function SettingsPage() {
  return (
    <Suspense>
      <SettingsView />
    </Suspense>
  );
}
