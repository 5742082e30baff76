/** A kernel's lifecycle state, as the control plane records it. Pure: workflow code imports it. */

/** String-valued so they read well in the Web UI's event history. */
export enum KernelState {
  UNKNOWN = 'UNKNOWN',
  STARTING = 'STARTING',
  READY = 'READY',
  UNHEALTHY = 'UNHEALTHY',
  RESTARTING = 'RESTARTING',
  BACKING_OFF = 'BACKING_OFF',
  CRASH_LOOP = 'CRASH_LOOP',
  STOPPED = 'STOPPED',
  FAILED = 'FAILED',
}
