import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { archiveLocationFor, formatPlatform, inspect, inspectBundle, parsePlatformWithNotice, type BundleManifest, type Descriptor, type ImageInspection, type Inspection } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { formatSize, line, noticesTo, printJson, printTable, type OutputStream } from '../output.js';

export async function inspectAction(context: CliContext, location: string, flags: { raw?: boolean; platform?: string; verbose?: boolean }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  // A bundle archive: the table of what it holds, from its bundle manifest.
  const bundle = flags.raw || flags.platform !== undefined ? undefined : await inspectBundle({ location });
  if (bundle) {
    if (globals.json) printJson(bundle.manifest, context.stdout);
    else if (globals.quiet) for (const image of bundle.manifest.images) context.stdout.write(line`${image.image}@${image.digest}`);
    else printBundle(bundle.file, bundle.manifest, context.stdout);
    return;
  }
  const result = await inspect({
    location: (await archiveLocationFor(location)) ?? location,
    ...connectionOptions(globals, context.signal),
    ...(flags.platform !== undefined ? { platform: parsePlatformWithNotice(flags.platform, noticesTo(context.stderr, globals.quiet)) } : {}),
    ...(flags.verbose ? { verbose: true } : {}),
  });
  if (flags.raw) {
    context.stdout.write(result.raw.bytes);
    return;
  }
  if (globals.json) {
    printJson(toJson(result), context.stdout);
    return;
  }
  if (globals.quiet) {
    context.stdout.write(line`${result.descriptor.digest}`);
    return;
  }
  printInspection(location, result, context.stdout);
}

function toJson(result: Inspection): unknown {
  const { raw, ...rest } = result;
  return { ...rest, manifest: JSON.parse(raw.bytes.toString('utf8')) as unknown };
}

export function printInspection(location: string, result: Inspection, out: OutputStream): void {
  out.write(line`Name:       ${location}`);
  out.write(line`MediaType:  ${result.descriptor.mediaType}`);
  out.write(line`Digest:     ${result.descriptor.digest}`);
  out.write(line`Size:       ${result.descriptor.size}`);
  if (result.subject) out.write(line`Subject:    ${result.subject.digest} (${result.subject.mediaType})`);
  if (result.kind === 'image') {
    printImage(result, out);
    printReferrers(result.referrers, out);
    return;
  }
  out.write('\n');
  printTable(
    ['PLATFORM', 'DIGEST', 'SIZE', 'MEDIA TYPE'],
    result.entries.map((e) => [
      e.attestation ? `attestation (${e.descriptor.annotations?.['vnd.docker.reference.digest']?.slice(0, 19) ?? '?'}…)` : e.platform ? formatPlatform(e.platform) : '-',
      e.descriptor.digest,
      String(e.descriptor.size),
      e.descriptor.mediaType,
    ]),
    out,
  );
  printReferrers(result.referrers, out);
  for (const entry of result.entries) {
    if (!entry.image) continue;
    out.write('\n');
    out.write(line`${entry.platform ? formatPlatform(entry.platform) : entry.descriptor.digest}:`);
    printImage(entry.image, out);
  }
}

function printImage(image: ImageInspection, out: OutputStream): void {
  if (image.platform) out.write(line`Platform:   ${formatPlatform(image.platform)}`);
  if (image.created) out.write(line`Created:    ${image.created}`);
  out.write(line`Config:     ${image.config.digest} (${image.config.size} bytes)`);
  out.write(line`Total size: ${formatSize(image.totalSize)} (${image.totalSize} bytes, compressed)`);
  out.write('\n');
  printTable(
    ['LAYER', 'DIGEST', 'SIZE', 'MEDIA TYPE'],
    image.layers.map((l, i) => [String(i + 1), l.digest, String(l.size), l.mediaType]),
    out,
  );
}

function printReferrers(referrers: readonly Descriptor[] | undefined, out: OutputStream): void {
  if (!referrers || referrers.length === 0) return;
  out.write('\n');
  printTable(
    ['REFERRER TYPE', 'DIGEST', 'SIZE', 'ANNOTATIONS'],
    referrers.map((r) => [
      r.artifactType ?? r.mediaType,
      r.digest,
      String(r.size),
      Object.entries(r.annotations ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '-',
    ]),
    out,
  );
}

/** The table `inspect` prints for a bundle archive. */
export function printBundle(file: string, manifest: BundleManifest, out: OutputStream): void {
  out.write(line`Bundle:     ${file}`);
  out.write(line`Format:     ${manifest.format}`);
  out.write(line`Platform:   ${manifest.platform}`);
  out.write(line`Images:     ${manifest.images.length}`);
  out.write('\n');
  printTable(
    ['IMAGE', 'PLATFORM', 'DIGEST', 'SIZE'],
    manifest.images.map((e) => [e.image, e.platform, e.digest, String(e.size)]),
    out,
  );
}
