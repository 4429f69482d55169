/** Types of serve.mjs (the demo's static server). */
export interface ExportListing {
  readonly id: string;
  readonly url: string;
  readonly dataset?: string;
  readonly createdAt?: string;
}
export function listExports(dir: string): ExportListing[];
export function startServer(options?: {
  port?: number;
  host?: string;
  dist?: string;
  exportsDir?: string;
}): Promise<{ url: string; exportsDir: string; close(): Promise<void> }>;
