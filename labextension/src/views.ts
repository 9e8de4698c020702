// Generated from the TypedDicts of nbflow/query/views.py by labextension/scripts/viewtypes.py: do
// not edit. After changing a view, run `make views` (or `.venv/bin/python
// labextension/scripts/viewtypes.py`); tests/unit/test_viewtypes.py fails while this file is stale.

export type TaskStatus = 'done' | 'failed' | 'running' | 'skipped' | 'cached' | 'pending';

export type StepStatus =
  'done' | 'failed' | 'running' | 'skipped' | 'cached' | 'pending' | 'not_run';

/** A run as lists show it (`Run.as_dict()`). */
export interface RunSummary {
  id: string; // "flow/12"
  flow: string;
  run_id: number;
  status: string; // running, done, incomplete, failed (nbflow.store.metadata.records)
  started_at: number; // seconds since the epoch
  finished_at: number | null;
  duration: number | null; // seconds
  params: Record<string, unknown>;
  tags: string[];
  error: string | null; // why it failed when no task did (its notebook stopped early)
}

/** A step's tasks by status (`total`: every task, or the planned number while running). */
export interface TaskCounts {
  total: number;
  done: number;
  failed: number;
  running: number;
  skipped: number;
  cached: number;
  pending: number;
}

/** One step of a run's graph: its shape, status, timing and task counts. */
export interface StepView {
  name: string;
  parents: string[];
  foreach: string | null; // the parent's artifact it fans out over
  join: boolean;
  env: string[]; // its own environment's requirements (%%step --env), if any
  python: string | null; // its own environment's Python (%%step --python)
  status: StepStatus;
  duration: number | null; // its wall time: first task start to last task end (records.wall_time)
  started_at: number | null;
  finished_at: number | null;
  tasks: TaskCounts;
}

/** The run with one entry per step of its graph, in notebook order. */
export interface RunView extends RunSummary {
  steps: StepView[];
}

/** An artifact of a task: its content key and the preview stored with it. */
export interface ArtifactView {
  name: string;
  key: string; // the hash of its bytes
  kind: string; // "output" (bound by the step), "inherited" (from a parent), "context"
  size: number; // bytes
  type_name: string;
  preview: Record<string, unknown>; // plain data made when it was stored (nbflow.store.blobs)
}

/** A file the task opened for reading: its data lineage. */
export interface FileRead {
  path: string; // absolute
  size: number; // bytes
  hash: string; // xxh3-128 of the content, hex
}

/** One enclosing foreach of a task, outermost first. */
export interface ForeachFrame {
  step: string;
  name: string; // what the element is called inside (`item`, or --as)
  index: number;
  count: number;
  key: string; // the element, stored as a blob
}

/** Why a task failed: the exception, its traceback and the line of the step's cell. */
export interface TaskError {
  ename: string;
  evalue: string;
  traceback?: string; // a task lost with its process has none
  line?: number | null;
}

/** A rich output the task showed (a MIME bundle); `notes`: what was cut from it. */
export interface Display {
  data: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  notes?: string[];
}

/** One task: its record, artifacts with previews, logs, error and rich outputs. */
export interface TaskView {
  id: string; // "flow/12/step/7"
  task_id: number;
  flow: string;
  run_id: number;
  step: string;
  status: TaskStatus;
  attempt: number;
  path: number[]; // its place: the foreach indices leading to it
  parents: number[];
  foreach: ForeachFrame[];
  origin: string | null; // the task it reuses (a `cached` one), as an id
  data_from: number | null;
  cache_key: string | null;
  started_at: number | null;
  finished_at: number | null;
  duration: number | null;
  stdout: string;
  stderr: string;
  error: TaskError | null;
  displays: Display[];
  reads: FileRead[];
  artifacts: ArtifactView[];
}

/**
 * A task as a panel shows it (nbflow.widgets.tasks): logs, tracebacks and rich outputs
 * cut to size.
 */
export interface TaskDetails extends TaskView {
  displays_left_out: number;
  item_name: string | null; // the foreach element's name, for a task inside a foreach
}

/** What a click on a step shows: its tasks, the first ones and every failed one. */
export interface StepTasks {
  type: 'tasks';
  step: string;
  total: number;
  tasks: TaskDetails[];
  note: string; // why there are none, or how many are shown
}

export interface FlowSummary {
  name: string;
  runs: number;
  latest: RunSummary | null;
}

export interface FlowsReply {
  datastore: string;
  flows: FlowSummary[];
}

/** A run of a listing, with the scalar results of its last step (None: not read yet). */
export interface RunRow extends RunSummary {
  results: Record<string, unknown> | null;
}

export interface RunsPage {
  flow: string;
  total: number;
  runs: RunRow[];
}

export interface LayoutBox {
  name: string;
  x: number;
  y: number;
  width: number;
  height: number;
  layer: number;
}

export interface LayoutEdge {
  source: string;
  target: string;
  points: number[][]; // [x, y] from the source's bottom to the target's top
}

/** Where the graph's boxes and edges go (nbflow.render.layout). */
export interface GraphLayout {
  boxes: LayoutBox[];
  edges: LayoutEdge[];
  width: number;
  height: number;
}

export interface RunReply extends RunView {
  layout: GraphLayout;
  svg: string;
}

/** A parameter or result across the compared runs, in run order. */
export interface ValueRow {
  name: string;
  differs: boolean;
  present: boolean[];
  values: unknown[];
}

export interface ArtifactCell {
  key: string | null; // None: the run has no such artifact
  type: string | null;
  size: number | null;
  preview: Record<string, unknown> | null;
}

export interface ArtifactRow {
  name: string;
  changed: boolean;
  cells: ArtifactCell[];
}

export interface ComparedRun {
  id: string;
  status: string;
  started_at: number;
  finished_at: number | null;
  duration: number | null;
  tags: string[];
}

/** Runs side by side (nbflow.widgets.compare.compare_view). */
export interface Comparison {
  runs: ComparedRun[];
  params: ValueRow[];
  results: ValueRow[];
  artifacts: ArtifactRow[];
  timeline: string; // the step timeline as an SVG data: URI
}

export interface CompareReply extends Comparison {
  timeline_svg: string;
}

/** A `%%step` cell as the kernel would read it. */
export interface CheckStep {
  cell_id: string;
  name: string;
  parents: string[];
  foreach: string | null;
  join: boolean;
  error: string | null;
  changed: boolean | null; // edited since it last ran (None: it never ran)
}

export interface CheckError {
  cell_id: string | null;
  message: string;
}

export interface CheckResult {
  flow: string;
  steps: CheckStep[];
  errors: CheckError[];
}
