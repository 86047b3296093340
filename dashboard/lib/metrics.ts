// The shape of GET /v1/projects/{id}/metrics (docs/api.md, "Mx") and the windows the page offers.

export const WINDOWS = [7, 30, 90] as const; // days; the API takes 1-90 (ADR 0039)
export const DEFAULT_WINDOW = 30;

export type Spread = { count: number; p50Seconds: number | null; p90Seconds: number | null };

export type Figures = {
  deployments: number;
  deploymentsPerDay: number;
  byStatus: Record<string, number>;
  inProgress: number;
  successRate: number | null;
  buildDuration: Spread;
  deployDuration: Spread;
  timeToRestore: Spread;
  restoresPending: number;
};

export type Day = { date: string; deployments: number; succeeded: number; failed: number };

export type ServiceFigures = Figures & { serviceId: string; environmentId: string; name: string | null };

export type Metrics = Figures & {
  projectId: string;
  days: number;
  since: string;
  until: string;
  services: ServiceFigures[];
  daily: Day[];
};

/** The window asked for in the query string, if it is one the page offers. */
export function windowOf(raw: string | null): number {
  const days = Number(raw);
  return (WINDOWS as readonly number[]).includes(days) ? days : DEFAULT_WINDOW;
}
