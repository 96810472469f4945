import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { writeFile } from 'node:fs/promises';
import { PolyarchError, STDOUT_DEST, buildImages, goesToStdout, buildMetadata, detectHostPlatform, parseAnnotation, parseByteSize, readSecrets, parsePlatformListWithNotices, uniquePlatforms } from '../../index.js';
import { parseBuildOutputs, parseOutputCompression } from '../build-outputs.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { keyValues, keyValuesOrEnvironment, parseBuildContexts, parseExtraHost, parseInteger, parseNetworkMode } from '../option-parsers.js';
import { takeBuildxFlags } from '../buildx-flags.js';
import { readStdinText } from '../read-stdin.js';
import { line, noticesTo, printJson } from '../output.js';
import type { ProgressMode } from '../option-parsers.js';
import { withProgress } from '../progress-view.js';

/** 9999-12-31T23:59:59Z: the last second an RFC 3339 timestamp (four-digit year) can say. */
const MAX_EPOCH = 253_402_300_799;

export async function buildAction(context: CliContext, dir: string, flags: { platform?: string; cache?: boolean; pull?: boolean; iidfile?: string; network: string; addHost?: string[]; allow?: string[]; buildContext?: string[]; cacheFrom?: string[]; cacheTo?: string[]; load?: boolean; provenance?: string; sbom?: string; tag?: string[]; push?: boolean; pushByDigest?: boolean; metadataFile?: string; output?: string[]; file?: string; buildArg?: string[]; label?: string[]; target?: string; sourceDateEpoch?: string; annotation?: string[]; compression?: string; compressionLevel?: string; secret?: string[]; progress?: ProgressMode }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  if (flags.load) throw new PolyarchError('USAGE', '--load: there is no Docker daemon to load into; use -o type=docker,dest=FILE, then docker load < FILE');
  const notice = noticesTo(context.stderr, globals.quiet);
  takeBuildxFlags(flags, notice);
  const network = parseNetworkMode(flags.network);
  const host = detectHostPlatform();
  const epochText = flags.sourceDateEpoch ?? process.env.SOURCE_DATE_EPOCH;
  const epoch = epochText === undefined ? 0 : parseInteger(epochText, flags.sourceDateEpoch !== undefined ? '--source-date-epoch' : 'SOURCE_DATE_EPOCH', 0, MAX_EPOCH);
  if (flags.compressionLevel !== undefined) parseInteger(flags.compressionLevel, '--compression-level', 0, 22); // the range per kind is checked with the kind
  const connection = connectionOptions(globals, context.signal);
  const compression = parseOutputCompression(flags.output ?? [], flags);
  const platforms = flags.platform ? uniquePlatforms(parsePlatformListWithNotices(flags.platform, notice)) : [host];
  // The --output strings are parsed here, once; the library takes typed outputs.
  const outputs = parseBuildOutputs(flags.output ?? [], { tags: flags.tag ?? [], platforms: platforms.length });
  // An archive on standard output (`-o -`, `dest=-`) is refused on a terminal, as buildx refuses it, and is all stdout carries.
  // parseBuildOutputs keeps the order of the flags, so the one quoted is the one given.
  const archiveAt = outputs.findIndex(goesToStdout);
  const archiveOut = archiveAt >= 0;
  if (archiveOut && (context.stdoutStream === undefined || context.stdoutStream.isTTY)) {
    throw new PolyarchError('USAGE', `--output ${flags.output?.[archiveAt] ?? STDOUT_DEST}: standard output is a terminal; redirect it (> FILE, | tar -x) or give dest=FILE`);
  }
  const secrets = flags.secret ? await readSecrets(flags.secret, { env: process.env }) : undefined;
  const built = await withProgress(flags.progress, { stderr: context.stderr, ...(globals.quiet ? { quiet: true } : {}) }, async (view) => {
    // Plain mode prints steps as buildx's plain progress does; blobs show only on a terminal, in flight.
    const transfers = view.mode === 'tty' ? view.onTransfer : undefined;
    const result = await buildImages({
      ...connection,
      context: dir,
      platforms,
      buildPlatform: host,
      sourceDateEpoch: epoch,
      compression,
      ...(flags.annotation ? { annotations: flags.annotation.map((a) => parseAnnotation(a)) } : {}),
      ...(flags.file === '-' ? { dockerfileText: await readStdinText(context.stdin) } : flags.file !== undefined ? { dockerfile: flags.file } : {}),
      ...(flags.cache === false ? { noCache: true } : {}),
      network,
      ...(flags.addHost ? { extraHosts: flags.addHost.map(parseExtraHost) } : {}),
      ...(flags.buildContext ? { buildContexts: parseBuildContexts(flags.buildContext) } : {}),
      ...(flags.buildArg ? { buildArgs: keyValuesOrEnvironment(flags.buildArg, '--build-arg') } : {}),
      ...(flags.label ? { labels: keyValues(flags.label, '--label') } : {}),
      ...(flags.target !== undefined ? { target: flags.target } : {}),
      ...(secrets ? { secrets } : {}),
      ...(view.onBuild ? { onProgress: view.onBuild } : {}),
      ...(transfers ? { onTransfer: transfers } : {}),
      // A size cap for the build cache, kept after every build (least recently used entries go first).
      ...(process.env.POLYARCH_CACHE_MAX ? { cacheMax: parseByteSize(process.env.POLYARCH_CACHE_MAX) } : {}),
      // Always given (even empty): the result is exported, and its tag leaves the build cache.
      outputs,
      ...(archiveOut ? { stdout: context.stdoutStream } : {}),
      tags: flags.tag ?? [],
      ...(flags.push ? { push: true } : {}),
      ...(flags.pushByDigest ? { pushByDigest: true } : {}),
    });
    return { result, written: result.outputs ?? [] };
  });
  const { result, written } = built;
  if (flags.iidfile !== undefined) await writeFile(flags.iidfile, result.index.digest);
  if (flags.metadataFile !== undefined) await writeFile(flags.metadataFile, `${JSON.stringify(buildMetadata(result, written), null, 2)}\n`);
  if (archiveOut) return; // --iidfile and --metadata-file still say the digest
  if (globals.json) printJson({ digest: result.index.digest, images: result.images, outputs: written }, context.stdout);
  else {
    context.stdout.write(line`${result.index.digest}`);
    if (!globals.quiet && written.length === 0) context.stderr.write('notice: no --push or --output given; the result stays in the build cache only\n');
  }
}
