import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { ErrorNote } from "@/components/ErrorNote";
import { Status } from "@/components/Status";
import { ApiError } from "@/lib/api";

describe("ErrorNote", () => {
  it("says the API's code and message in words, beside its context, as an alert", () => {
    const html = renderToStaticMarkup(
      <ErrorNote error={new ApiError(404, "NotFound", "project prj_x does not exist")} context="Could not load project prj_x" />,
    );
    expect(html).toContain('role="alert"');
    expect(html).toContain("Could not load project prj_x: <strong>NotFound</strong> — project prj_x does not exist");
  });

  it("renders nothing without an error", () => {
    expect(renderToStaticMarkup(<ErrorNote error={null} />)).toBe("");
  });
});

describe("Status", () => {
  it("shows the status as a word, toned by what it means", () => {
    expect(renderToStaticMarkup(<Status value="FAILED" />)).toContain('class="status bad"');
    expect(renderToStaticMarkup(<Status value="SUCCESS" />)).toContain(">SUCCESS<");
  });

  it("names a service that never deployed", () => {
    expect(renderToStaticMarkup(<Status value={null} />)).toContain("NO DEPLOYMENT");
  });
});
