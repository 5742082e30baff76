/**
 * Every workflow the healing worker runs. Deterministic code only: no Node built-ins, no I/O,
 * no clients — those live in activities/ (the ESLint config enforces it).
 */
export * from './preflight';
export * from './boot';
export * from './control-plane';
export * from './playbook';
export * from './kernel-lock';
export * from './bench';
