// An API error in words, placed beside what caused it: "NotFound: project prj_x does not exist".
import type { ApiError } from "@/lib/api";

export function ErrorNote({ error, context }: { error: ApiError | null; context?: string }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {context ? `${context}: ` : ""}
      <strong>{error.code}</strong> — {error.message}
    </p>
  );
}
