// Typed calls to nbflow's REST API (the server extension in nbflow/server). Requests go
// through ServerConnection, which adds Jupyter's token and XSRF header. What the API answers is
// typed by ./views.ts, generated from the views' TypedDicts (nbflow/query/views.py).

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { CheckResult, CompareReply, FlowsReply, RunReply, RunsPage, StepTasks } from './views';

export interface CheckCell {
  id: string;
  source: string;
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

export function flows(): Promise<FlowsReply> {
  return request('flows');
}

export function runs(flow: string, limit: number, offset = 0): Promise<RunsPage> {
  return request(`flows/${part(flow)}/runs?limit=${limit}&offset=${offset}`);
}

/** One run with its steps and graph; `runId` may be "latest". */
export function run(flow: string, runId: number | 'latest'): Promise<RunReply> {
  return request(`runs/${part(flow)}/${part(String(runId))}`);
}

export function stepTasks(flow: string, runId: number, step: string): Promise<StepTasks> {
  return request(`runs/${part(flow)}/${runId}/${part(step)}`);
}

export function compare(ids: string[]): Promise<CompareReply> {
  return request(`compare?runs=${ids.map(part).join(',')}`);
}

export function check(flow: string | null, cells: CheckCell[]): Promise<CheckResult> {
  return request('check', { method: 'POST', body: JSON.stringify({ flow, cells }) });
}
