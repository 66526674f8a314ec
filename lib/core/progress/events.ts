/**
 * Kubernetes Events on a Node for each step of its upgrade, as `kubectl describe node` and
 * `kubectl get events` show them. Pure: the Event objects; reporter.ts creates them.
 *
 * Why core/v1 Events (not events.k8s.io/v1): both APIs are views of the same objects, but
 * `kubectl describe node` lists core/v1 Events (by involvedObject kind, name and uid) and its FROM
 * column is `source.component`, a field only core/v1 lets a client set (events.k8s.io/v1 refuses
 * the deprecated fields on create; FROM would fall back to `reportingComponent`); `kubectl get
 * events` and most dashboards read core/v1 too. The kubelet and the node controller write their
 * Node events the same way (namespace "default", involvedObject without a namespace), so ours
 * sort in among theirs.
 *
 * Times: `kubectl describe` orders a node's events by `lastTimestamp` (whole seconds), so each
 * Event has `firstTimestamp` / `lastTimestamp` (to sort in among the kubelet's) and `eventTime`
 * with microseconds (describe's AGE). Steps less than a second apart (Drained, UpgradeStarted)
 * tie on `lastTimestamp`; the object names ("<node>.<nanoseconds in hex>", client-go's scheme,
 * increasing within the process) keep them in the order they happened in the API's list, which
 * kubectl's sort leaves as it is for a node's usual handful of events. With `eventTime` the API
 * server requires `reportingComponent` ("kube-upkeep"), `reportingInstance` (the host the step
 * ran on) and `action`. Every Event is a new object (count 1, no `series`), so only `events
 * create` is needed.
 */
import { hostname } from "node:os";

/** The `source.component` / `reportingComponent` of kube-upkeep's Events. */
export const REPORTING_COMPONENT = "kube-upkeep";

/** Where Node events live (a Node has no namespace; the kubelet uses "default" too). */
export const NODE_EVENT_NAMESPACE = "default";

/** The reasons kube-upkeep gives its Node events, in the order a roll emits them. */
export const NODE_EVENT_REASONS = [
  "Cordoned",
  "Drained",
  "UpgradeStarted",
  "Upgraded",
  "Uncordoned",
  "HealthGatePassed",
  "Resumed",
  "Failed",
] as const;

export type NodeEventReason = (typeof NODE_EVENT_REASONS)[number];

/** The `action` of each reason (what kube-upkeep did or tried). */
const ACTIONS: Record<NodeEventReason, string> = {
  Cordoned: "Cordon",
  Drained: "Drain",
  UpgradeStarted: "Upgrade",
  Upgraded: "Upgrade",
  Uncordoned: "Uncordon",
  HealthGatePassed: "HealthGate",
  Resumed: "Upgrade",
  Failed: "Upgrade",
};

/** events.k8s.io's note limit; a longer message is cut (the full text is in Pulumi's output). */
export const EVENT_MESSAGE_LIMIT = 1024;

export interface NodeRef {
  readonly name: string;
  /** The Node's uid (what `kubectl describe node` matches; the node name when unknown). */
  readonly uid?: string;
}

export interface NodeEventOptions {
  readonly type?: "Normal" | "Warning";
  readonly now?: Date;
  /** reportingInstance / source.host. @default the host name */
  readonly instance?: string;
  /** Makes the object name unique (tests). @default random */
  readonly nonce?: string;
}

/** The message, cut to the limit (in UTF-8 bytes) with an ellipsis. */
export function eventMessage(text: string): string {
  const trimmed = text.trim();
  if (Buffer.byteLength(trimmed, "utf8") <= EVENT_MESSAGE_LIMIT) return trimmed;
  let cut = trimmed.slice(0, EVENT_MESSAGE_LIMIT - 3);
  while (Buffer.byteLength(`${cut}...`, "utf8") > EVENT_MESSAGE_LIMIT) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/** A core/v1 Event about `node` (plain JSON, as the API takes it). */
export function nodeEvent(
  node: NodeRef,
  reason: NodeEventReason,
  message: string,
  o: NodeEventOptions = {},
): {
  apiVersion: "v1";
  kind: "Event";
  metadata: { name: string; namespace: string };
  involvedObject: { apiVersion: "v1"; kind: "Node"; name: string; uid: string };
  reason: NodeEventReason;
  message: string;
  type: "Normal" | "Warning";
  source: { component: string; host: string };
  reportingComponent: string;
  reportingInstance: string;
  action: string;
  eventTime: string;
  firstTimestamp: Date;
  lastTimestamp: Date;
  count: number;
} {
  const now = o.now ?? new Date();
  const instance = (o.instance ?? hostname()).slice(0, 128) || REPORTING_COMPONENT;
  const nonce = o.nonce ?? Math.random().toString(16).slice(2, 6);
  // client-go names events "<object>.<unix nanos in hex>": the nanoseconds are the millisecond
  // and a counter, so that names sort in the order the events were made (within the process);
  // the nonce keeps two processes apart. The object name is a DNS subdomain (<= 253).
  const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(sequence++ % 1_000_000);
  const suffix = `.${nanos.toString(16)}${nonce}`;
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: `${node.name.slice(0, 253 - suffix.length)}${suffix}`,
      namespace: NODE_EVENT_NAMESPACE,
    },
    involvedObject: { apiVersion: "v1", kind: "Node", name: node.name, uid: node.uid || node.name },
    reason,
    message: eventMessage(message),
    type: o.type ?? (reason === "Failed" ? "Warning" : "Normal"),
    source: { component: REPORTING_COMPONENT, host: instance },
    reportingComponent: REPORTING_COMPONENT,
    reportingInstance: instance,
    action: ACTIONS[reason],
    eventTime: microTime(now),
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}

/** Orders the names of the events this process makes (see nodeEvent). */
let sequence = 0;

/**
 * metav1.MicroTime as the API server parses it: RFC 3339 with exactly six fractional digits (a
 * Date's toISOString has three, which the server refuses). Passed as a string, which
 * client-node's serializer leaves alone.
 */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
