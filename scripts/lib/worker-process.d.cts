import type { ChildProcess } from "node:child_process";
/** A judge: a child process with IPC, or a warm judge reached over its socket, with the same surface (worker-process.cjs). */
export type JudgeProcess = Pick<ChildProcess, "stdout" | "stderr" | "on" | "off" | "send" | "kill" | "exitCode" | "signalCode" | "connected" | "pid">;
export function spawnCheckWorker(args?: string[], options?: import("node:child_process").SpawnOptions): ChildProcess;
export function prestartCheckWorker(): void;
export function takeCheckWorker(): JudgeProcess;
export function discardPrestartedWorker(): void;
export function warmJudgeSocket(env?: NodeJS.ProcessEnv): string | undefined;
export function warmJudgeIdentity(socket: string): { pid: number; token: string } | undefined;
export function identityFile(socket: string): string;
export function startWarmJudge(socket: string, afterLab?: string): void;
export function noteRunLab(labId: string): void;
export function workspacePrefix(): string;
