import type { ChildProcess } from "node:child_process";
/** A judge: a child process with IPC, or a judge of the warm judge reached over its socket, which relays the same surface. */
export type JudgeProcess = Pick<ChildProcess, "stdout" | "stderr" | "on" | "off" | "send" | "kill" | "exitCode" | "signalCode" | "connected" | "pid">;
export function spawnCheckWorker(): ChildProcess;
export function prestartCheckWorker(): void;
export function takeCheckWorker(): JudgeProcess;
export function discardPrestartedWorker(): void;
export function warmJudgeSocket(env?: NodeJS.ProcessEnv): string | undefined;
export function warmJudgeIdentity(socket: string): { pid: number; token: string } | undefined;
export function identityFile(socket: string): string;
