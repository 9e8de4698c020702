// Typed calls to nbflow's REST API (the server extension in nbflow/server). Requests go
// through ServerConnection, which adds Jupyter's token and XSRF header.

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface TaskCounts {
  total: number;
  done: number;
  failed: number;
  running: number;
  skipped: number;
  cached: number;
  pending: number;
}

export interface Run {
  id: string;
  flow: string;
  run_id: number;
  status: string;
  started_at: number | null;
  finished_at: number | null;
  duration: number | null;
  params: Record<string, unknown>;
  tags: string[];
  results?: Record<string, unknown>;
}

export interface StepView {
  name: string;
  parents: string[];
  foreach: string | null;
  join: boolean;
  status: string;
  duration: number | null;
  started_at: number | null;
  finished_at: number | null;
  tasks: TaskCounts;
  env?: string[]; // the step's own environment's requirements (%%step --env), if any
  python?: string | null;
}

export interface RunView extends Run {
  steps: StepView[];
  svg: string;
}

export interface FlowSummary {
  name: string;
  runs: number;
  latest: Run | null;
}

export interface RunsPage {
  flow: string;
  total: number;
  runs: Run[];
}

export interface Artifact {
  name: string;
  kind?: string;
  type_name?: string;
  preview?: unknown;
}

/** A file a task opened for reading: its data lineage. */
export interface FileRead {
  path: string; // absolute
  size: number; // bytes
  hash: string; // xxh3-128 of the content, hex
}

export interface TaskView {
  id: string;
  status: string;
  attempt?: number;
  duration?: number | null;
  origin?: string | null;
  item_name?: string | null;
  artifacts?: Artifact[];
  stdout?: string;
  stderr?: string;
  error?: { ename?: string; evalue?: string; traceback?: string } | string | null;
  reads?: FileRead[];
}

export interface StepTasks {
  step: string;
  total: number;
  tasks: TaskView[];
  note: string;
}

export interface ValueRow {
  name: string;
  differs: boolean;
  present: boolean[];
  values: unknown[];
}

export interface ArtifactCell {
  key: string | null;
  type: string | null;
  size: number | null;
  preview: unknown;
}

export interface ArtifactRow {
  name: string;
  changed: boolean;
  cells: ArtifactCell[];
}

export interface Comparison {
  runs: Run[];
  params: ValueRow[];
  results: ValueRow[];
  artifacts: ArtifactRow[];
  timeline_svg?: string;
}

export interface CheckCell {
  id: string;
  source: string;
}

export interface CheckStep {
  cell_id: string;
  name: string;
  parents: string[];
  foreach: string | null;
  join: boolean;
  error: string | null;
  changed: boolean | null;
}

export interface CheckResult {
  flow: string;
  steps: CheckStep[];
  errors: { cell_id: string | null; message: string }[];
}

/**
 * An answer other than 2xx; `status` 0 when the server could not be reached. `fromApi`:
 * nbflow's API itself answered (a 404 then means "no such flow or run", not "no such API").
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fromApi = false
  ) {
    super(message);
  }
}

const part = encodeURIComponent;

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const [route, query] = path.split('?');
  const url = URLExt.join(settings.baseUrl, 'nbflow/api', route) + (query ? `?${query}` : '');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(0, `the Jupyter server did not answer (${String(error)})`);
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data as { error?: unknown } | null)?.error;
    if (typeof error === 'string') {
      throw new ApiError(response.status, error, true);
    }
    const message =
      response.status === 404
        ? 'the nbflow server extension is not enabled: jupyter server extension enable nbflow'
        : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data as T;
}

export function flows(): Promise<{ datastore: string; flows: FlowSummary[] }> {
  return request('flows');
}

export function runs(flow: string, limit: number, offset = 0): Promise<RunsPage> {
  return request(`flows/${part(flow)}/runs?limit=${limit}&offset=${offset}`);
}

/** One run with its steps and graph; `runId` may be "latest". */
export function run(flow: string, runId: number | 'latest'): Promise<RunView> {
  return request(`runs/${part(flow)}/${part(String(runId))}`);
}

export function stepTasks(flow: string, runId: number, step: string): Promise<StepTasks> {
  return request(`runs/${part(flow)}/${runId}/${part(step)}`);
}

export function compare(ids: string[]): Promise<Comparison> {
  return request(`compare?runs=${ids.map(part).join(',')}`);
}

export function check(flow: string | null, cells: CheckCell[]): Promise<CheckResult> {
  return request('check', { method: 'POST', body: JSON.stringify({ flow, cells }) });
}
