// How times, durations and build caches read on the page.

import type { Deployment } from "./types";

export const ENDED = new Set(["SUCCESS", "FAILED", "CRASHED", "COMPLETED", "CANCELLED", "REMOVED", "SKIPPED"]);

export function when(iso: string, now: number = Date.now()): string {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** Created to last change for an ended deployment; "running" otherwise. */
export function duration(d: Deployment): string {
  if (!ENDED.has(d.status)) return "running";
  const seconds = (Date.parse(d.updatedAt) - Date.parse(d.createdAt)) / 1000;
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export function source(d: Deployment): string {
  const release = d.releaseNumber ? ` v${d.releaseNumber}` : "";
  // a pushed commit names its commit; `railyard up` is an upload
  const kind = d.kind !== "source" ? d.kind : d.commitSha ? `commit ${d.commitSha.slice(0, 7)}` : "upload";
  return `${kind}${release}`;
}

export function cacheHits(d: Deployment): string {
  if (d.buildCached) return "artifact hit";
  const cache = d.buildCache;
  if (!cache) return "—";
  const parts = [cache.artifact && `artifact ${cache.artifact}`, cache.deps && `deps ${cache.deps}`].filter(Boolean);
  const saved = cache.savedSeconds ? `, saved ${cache.savedSeconds.toFixed(1)} s` : "";
  return parts.length ? `${parts.join(", ")}${saved}` : "—";
}

/** Who made it, as the API words it (createdBy.label); "—" for one made before that was recorded. */
export function who(d: Deployment): string {
  return d.createdBy?.label ?? "—";
}
