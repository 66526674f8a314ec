/** Defaults shared by more than one step, each in one place. */

/**
 * How long one node's drain may take, and how long its wait for Ready at the new kubelet after
 * the upgrade command may take (drainNode, waitNodeReady, NodeUpgrade's readyTimeoutSeconds).
 */
export const DEFAULT_NODE_STEP_TIMEOUT_SECONDS = 600;
