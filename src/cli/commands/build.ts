import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { writeFile } from 'node:fs/promises';
import { PolyarchError, buildImages, buildMetadata, checkOutputs, detectHostPlatform, exportBuild, outputAttribute, parseAnnotation, parseByteSize, readSecrets, parseCompression, parsePlatformList } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { parseInteger } from '../option-parsers.js';
import { line, printJson } from '../output.js';
import { parseProgressMode, printBuildProgress, type ProgressMode } from '../build-progress.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function keyValues(values: readonly string[], flag: string): Record<string, string> {
  return Object.fromEntries(
    values.map((v) => {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new PolyarchError('USAGE', `${flag} ${v}: expected KEY=VALUE`);
      return [v.slice(0, eq), v.slice(eq + 1)];
    }),
  );
}

/** 9999-12-31T23:59:59Z: the last second an RFC 3339 timestamp (four-digit year) can say. */
const MAX_EPOCH = 253_402_300_799;

export function registerBuild(program: Command, context: CliContext): void {
  program
    .command('build')
    .description('build a Dockerfile for several platforms into one index, without a daemon (RUN steps run per platform, foreign ones under qemu-user)')
    .argument('[context]', 'build context directory', '.')
    .option('--platform <platforms>', 'target platforms, comma separated (default: this machine)')
    .option('-t, --tag <ref>', 'name the result (repeatable); pushed with --push', collect)
    .option('--push', 'push to every -t name')
    .option('-o, --output <output>', 'type=registry|oci|docker,… (buildx grammar) or a polyarch location (repeatable)', collect)
    .option('-f, --file <dockerfile>', 'the Dockerfile (default: CONTEXT/Dockerfile)')
    .option('--build-arg <KEY=VALUE>', 'build argument (repeatable)', collect)
    .option('--label <KEY=VALUE>', 'image label (repeatable)', collect)
    .option('--target <stage>', 'build this stage')
    .option('--annotation <[TYPE:]KEY=VALUE>', 'annotation on manifest (default), index or manifest-descriptor, optionally TYPE[os/arch] (repeatable)', collect)
    .option('--compression <kind>', 'layer compression: gzip (default), zstd or uncompressed; also -o …,compression=')
    .option('--compression-level <n>', 'gzip 0-9 (default 6), zstd 1-22 (default 3); also -o …,compression-level=')
    .option('--push-by-digest', 'with --push: store the index by digest only, with no tag')
    .option('--metadata-file <file>', 'write the result digest and names as JSON (as buildx does)')
    .option('--secret <id=ID,src=FILE|env=VAR>', 'a secret for RUN --mount=type=secret, from a file or an environment variable (repeatable; buildx grammar)', collect)
    .option('--source-date-epoch <seconds>', 'timestamp for every file and the image (default: $SOURCE_DATE_EPOCH or 0)')
    .option('--progress <mode>', 'plain: each step and its output on stderr, prefixed [platform stage n/total]; quiet: none (default plain, quiet with --quiet)', parseProgressMode)
    .action(async (dir: string, flags: { platform?: string; tag?: string[]; push?: boolean; pushByDigest?: boolean; metadataFile?: string; output?: string[]; file?: string; buildArg?: string[]; label?: string[]; target?: string; sourceDateEpoch?: string; annotation?: string[]; compression?: string; compressionLevel?: string; secret?: string[]; progress?: ProgressMode }, command: Command) => {
      const globals = globalsOf(command);
      const host = detectHostPlatform();
      const epochText = flags.sourceDateEpoch ?? process.env.SOURCE_DATE_EPOCH;
      const epoch = epochText === undefined ? 0 : parseInteger(epochText, flags.sourceDateEpoch !== undefined ? '--source-date-epoch' : 'SOURCE_DATE_EPOCH', 0, MAX_EPOCH);
      if (flags.compressionLevel !== undefined) parseInteger(flags.compressionLevel, '--compression-level', 0, 22); // the range per kind is checked with the kind
      const connection = connectionOptions(globals, context.signal);
      // buildx sets compression as output attributes; the flags say the same for every output.
      const outputs = flags.output ?? [];
      const compression = parseCompression(flags.compression ?? outputAttribute(outputs, 'compression'), flags.compressionLevel ?? outputAttribute(outputs, 'compression-level'));
      const platforms = flags.platform ? parsePlatformList(flags.platform) : [host];
      checkOutputs(flags.output ?? [], flags.tag ?? [], platforms.length);
      const secrets = flags.secret ? await readSecrets(flags.secret, { env: process.env }) : undefined;
      const result = await buildImages(dir, {
        ...connection,
        platforms,
        buildPlatform: host,
        sourceDateEpoch: epoch,
        compression,
        ...(flags.annotation ? { annotations: flags.annotation.map((a) => parseAnnotation(a)) } : {}),
        ...(flags.file !== undefined ? { dockerfile: flags.file } : {}),
        ...(flags.buildArg ? { buildArgs: keyValues(flags.buildArg, '--build-arg') } : {}),
        ...(flags.label ? { labels: keyValues(flags.label, '--label') } : {}),
        ...(flags.target !== undefined ? { target: flags.target } : {}),
        ...(secrets ? { secrets } : {}),
        ...((flags.progress ?? (globals.quiet ? 'quiet' : 'plain')) === 'plain' ? { onProgress: printBuildProgress(context.stderr) } : {}),
        // A size cap for the build cache, kept after every build (least recently used entries go first).
        ...(process.env.POLYARCH_CACHE_MAX ? { cacheMax: parseByteSize(process.env.POLYARCH_CACHE_MAX) } : {}),
      });
      const written = await exportBuild(result, flags.output ?? [], { ...connection, tags: flags.tag ?? [], ...(flags.push ? { push: true } : {}), ...(flags.pushByDigest ? { pushByDigest: true } : {}) });
      if (flags.metadataFile !== undefined) await writeFile(flags.metadataFile, `${JSON.stringify(buildMetadata(result, written), null, 2)}\n`);
      if (globals.json) printJson({ digest: result.index.digest, images: result.images, outputs: written }, context.stdout);
      else {
        context.stdout.write(line`${result.index.digest}`);
        if (!globals.quiet && written.length === 0) context.stderr.write('notice: no --push or --output given; the result stays in the build cache only\n');
      }
    });
}
