// The instructions that only change the image config or the stage's variables: ARG, ENV, LABEL,
// USER, EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, ONBUILD, MAINTAINER, HEALTHCHECK.
import { constants } from 'node:os';
import { badDockerfile, type Instruction } from '../dockerfile.js';
import type { PlatformContext, StageState } from '../stage.js';
import { healthcheck } from './healthcheck.js';

/** The automatic platform ARGs: a stage's `ARG TARGETARCH` takes the value of the platform being built. */
export const PLATFORM_ARGS: readonly string[] = ['TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT', 'BUILDPLATFORM', 'BUILDOS', 'BUILDARCH', 'BUILDVARIANT'];

/** A signal as docker's ParseSignal takes it: a number, or a Linux signal's name with or without SIG (RTMIN+n and RTMAX-n too). */
function isSignal(text: string): boolean {
  if (/^\d+$/.test(text)) return Number(text) >= 1 && Number(text) <= 64;
  const name = text.toUpperCase().replace(/^SIG/, '');
  return `SIG${name}` in constants.signals || /^RTMIN(\+([1-9]|1[0-5]))?$|^RTMAX(-([1-9]|1[0-4]))?$/.test(name);
}

/** EXPOSE's `80`, `53/udp` or `8000-8002/tcp`, as the config's `port/proto` keys (ranges expanded, as docker does). */
function exposedPorts(spec: string, file: string, line: number): string[] {
  const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  const first = Number(match?.[1]);
  const last = Number(match?.[2] ?? match?.[1]);
  if (!match || first > last || last > 65535) throw badDockerfile(file, line, `EXPOSE ${spec}: expected PORT[-PORT][/tcp|udp|sctp]`);
  const proto = (match[3] ?? 'tcp').toLowerCase();
  return Array.from({ length: last - first + 1 }, (_, k) => `${first + k}/${proto}`);
}

/** SHELL's command, which only the JSON form gives. */
function shellOf(i: Instruction, file: string): readonly string[] {
  if (!i.json) throw badDockerfile(file, i.line, 'SHELL needs the JSON form');
  return i.json;
}

/** STOPSIGNAL's signal (substituted), if it is one. */
function stopSignal(signal: string, file: string, line: number): string {
  if (!isSignal(signal)) throw badDockerfile(file, line, `STOPSIGNAL ${signal}: not a signal (a number, or a name such as SIGTERM or SIGRTMIN+3)`);
  return signal;
}

/** What applyMetadata would refuse in `i` that no variable can change, for a check before any step runs. */
export function checkMetadata(i: Instruction, file: string): void {
  const fixed = (text: string) => !text.includes('$');
  if (i.keyword === 'EXPOSE') for (const spec of i.args.filter(fixed)) exposedPorts(spec, file, i.line);
  else if (i.keyword === 'SHELL') shellOf(i, file);
  else if (i.keyword === 'STOPSIGNAL' && fixed(i.text)) stopSignal(i.text, file, i.line);
  else if (i.keyword === 'HEALTHCHECK') healthcheck(i, file);
}

/**
 * Carries out `i` when it is a metadata instruction, and says whether it was one. Values are
 * substituted with the stage's variables; CMD, ENTRYPOINT and HEALTHCHECK are not (the shell does
 * it at run time).
 */
export function applyMetadata(i: Instruction, state: StageState, ctx: PlatformContext): boolean {
  const { file, created, args } = ctx;
  const cfg = state.config.config;
  const sub = (t: string) => ctx.substitute(t, state.vars, i.line);
  // Every value of one ARG, ENV or LABEL line is read with the variables from before it, as BuildKit does.
  const before = new Map(state.vars);
  const word = (t: string | undefined) => ctx.word(t ?? '', before, i.line);
  const note = (emptyLayer: boolean) => state.note(`${i.keyword} ${i.text}`, created, emptyLayer);
  const command = (): string[] => (i.json ? [...i.json] : [...state.shell, i.text]);
  switch (i.keyword) {
    case 'ARG':
      for (const [name, value] of i.properties) {
        const v = args.given?.[name] ?? (PLATFORM_ARGS.includes(name) ? args.automatic.get(name) : undefined) ?? args.global.get(name) ?? (value === undefined ? undefined : word(value));
        if (v !== undefined && !state.vars.has(name)) state.vars.set(name, v);
      }
      return true;
    case 'ENV':
      // Names are words too: quotes are taken off, and variables expand outside single quotes (BuildKit).
      for (const [name, value] of i.properties) state.setEnv(word(name), word(value));
      // Even an ENV without pairs leaves an Env list in the config.
      cfg.Env = [...state.env];
      note(true);
      return true;
    case 'LABEL':
      cfg.Labels = { ...((cfg.Labels as Record<string, string>) ?? {}), ...Object.fromEntries(i.properties.map(([k, v]) => [word(k), word(v)])) };
      note(true);
      return true;
    case 'USER':
      cfg.User = sub(i.text);
      note(true);
      return true;
    case 'EXPOSE':
      cfg.ExposedPorts = { ...((cfg.ExposedPorts as object) ?? {}), ...Object.fromEntries(i.args.flatMap((p) => exposedPorts(sub(p), file, i.line)).map((p) => [p, {}])) };
      note(true);
      return true;
    case 'VOLUME':
      cfg.Volumes = { ...((cfg.Volumes as object) ?? {}), ...Object.fromEntries((i.json ?? i.args).map((v) => [sub(v), {}])) };
      note(true);
      return true;
    case 'CMD':
      cfg.Cmd = command();
      state.cmdSet = true;
      note(true);
      return true;
    case 'ENTRYPOINT':
      cfg.Entrypoint = command();
      // The base's CMD was its own ENTRYPOINT's arguments: docker and BuildKit drop it.
      if (!state.cmdSet) delete cfg.Cmd;
      note(true);
      return true;
    case 'SHELL': {
      const shell = shellOf(i, file);
      state.shell = [...shell];
      cfg.Shell = [...shell];
      return true;
    }
    case 'STOPSIGNAL':
      cfg.StopSignal = stopSignal(sub(i.text), file, i.line);
      return true;
    case 'ONBUILD':
      cfg.OnBuild = [...((cfg.OnBuild as string[]) ?? []), i.text];
      return true;
    case 'MAINTAINER':
      (state.config as { author?: string }).author = i.text;
      return true;
    case 'HEALTHCHECK':
      cfg.Healthcheck = healthcheck(i, file);
      note(true);
      return true;
    default:
      return false;
  }
}
