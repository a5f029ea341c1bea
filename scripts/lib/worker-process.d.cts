import type { ChildProcess } from "node:child_process";
export function spawnCheckWorker(): ChildProcess;
export function prestartCheckWorker(): void;
export function takeCheckWorker(): ChildProcess;
export function discardPrestartedWorker(): void;
