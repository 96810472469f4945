import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const tagsCommand: CommandSpec = {
  name: 'tags',
  alias: 'ls',
  description: 'list the tags of a repository or layout',
  arguments: [{ name: '<location>', description: 'registry repository (HOST/REPO) or oci:DIR' }],
  action: async () => (await actionModule('list')).tagsAction,
};

export const catalogCommand: CommandSpec = {
  name: 'catalog',
  description: "list a registry's repositories",
  arguments: [{ name: '<registry>', description: 'registry host[:port]' }],
  action: async () => (await actionModule('list')).catalogAction,
};

export const deleteCommand: CommandSpec = {
  name: 'delete',
  alias: 'rm',
  description: 'delete a manifest (a tag is resolved to its digest) or a layout tag',
  arguments: [{ name: '<location>', description: 'registry reference or oci:DIR:TAG' }],
  action: async () => (await actionModule('list')).deleteAction,
};
