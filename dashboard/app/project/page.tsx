"use client";

// A project: its environments, and each environment's services as cards (status, URL, last
// deployment, replicas), refreshed every few seconds.

import Link from "next/link";
import { Suspense } from "react";
import { useSearchParams } from "next/navigation";
import { Shell } from "@/components/Shell";
import { ErrorNote } from "@/components/ErrorNote";
import { ProjectTabs } from "@/components/SectionTabs";
import { Status } from "@/components/Status";
import { api } from "@/lib/api";
import { when } from "@/lib/format";
import { serviceHref } from "@/lib/paths";
import type { Deployment, Environment, Project, Service } from "@/lib/types";
import { usePolled } from "@/lib/usePolled";

type Card = { service: Service; last: Deployment | null };
type View = { project: Project; environments: { environment: Environment; cards: Card[] }[] };

async function loadProject(id: string): Promise<View> {
  const { project, environments } = await api<{ project: Project; environments: Environment[] }>(
    `/v1/projects/${encodeURIComponent(id)}`,
  );
  const withServices = await Promise.all(
    environments.map(async (environment) => {
      const { services } = await api<{ services: Service[] }>(
        `/v1/environments/${encodeURIComponent(environment.id)}/services`,
      );
      const cards = await Promise.all(
        services.map(async (service) => {
          const { deployments } = await api<{ deployments: Deployment[] }>(
            `/v1/services/${encodeURIComponent(service.id)}/deployments?limit=1`,
          );
          return { service, last: deployments[0] ?? null };
        }),
      );
      return { environment, cards };
    }),
  );
  return { project, environments: withServices };
}

function ServiceCard({ service, last }: Card) {
  return (
    <li className="card" data-service={service.name} data-deployment={last?.id}>
      <h3>
        <Link href={serviceHref(service.id)}>{service.name}</Link>
      </h3>
      <dl>
        <dt>Status</dt>
        <dd>
          <Status value={last?.status} />
        </dd>
        <dt>URL</dt>
        <dd>{service.url ? <a href={service.url}>{service.url}</a> : <span className="muted">{service.workload === "web" ? "none yet" : `none (a ${service.workload})`}</span>}</dd>
        <dt>Last deploy</dt>
        <dd>{last ? `${when(last.createdAt)}${last.releaseNumber ? ` · v${last.releaseNumber}` : ""}` : "never"}</dd>
        <dt>Replicas</dt>
        <dd>{service.settings.numReplicas ?? 1}</dd>
      </dl>
    </li>
  );
}

function ProjectView() {
  const id = useSearchParams().get("id") ?? "";
  const { data, error } = usePolled(id ? () => loadProject(id) : null, id, undefined, { projectId: id });
  const name = data?.project.name ?? "Project";
  return (
    <Shell crumbs={[{ label: "Workspaces", href: "/" }, { label: name }]}>
      <h1>{name}</h1>
      {id && <ProjectTabs projectId={id} current="Services" />}
      <ErrorNote error={error} context={`Could not load project ${id}`} />
      {!data && !error && <p className="muted">Loading…</p>}
      {data?.environments.map(({ environment, cards }) => (
        <section key={environment.id} aria-labelledby={`env-${environment.id}`}>
          <h2 id={`env-${environment.id}`}>{environment.name}</h2>
          {cards.length === 0 ? (
            <p className="muted">No services in this environment.</p>
          ) : (
            <ul className="cards">
              {cards.map((card) => (
                <ServiceCard key={card.service.id} {...card} />
              ))}
            </ul>
          )}
        </section>
      ))}
    </Shell>
  );
}

export default function ProjectPage() {
  return (
    <Suspense>
      <ProjectView />
    </Suspense>
  );
}
