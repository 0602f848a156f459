// Which documents are weft's: workflow, plan, phase template and project config files by name, and any
// other YAML file whose top-level keys say so. The other YAML files are never sent to the server, and
// their language stays `yaml` so the YAML extension keeps working on them.
import * as path from 'path';
import type { DocumentSelector } from 'vscode-languageclient';

/** Glob patterns of the file names weft owns (SPEC §1). */
export const NAME_PATTERNS = [
  '**/*.workflow.{yaml,yml}',
  '**/*.plan.{yaml,yml,json}',
  '**/*.phases.{yaml,yml}',
  '**/weft.{yaml,yml}',
];

/** All of them in one glob without nested braces (for findFiles). */
export const WEFT_FILES_GLOB =
  '**/{*.workflow.yaml,*.workflow.yml,*.plan.yaml,*.plan.yml,*.plan.json,*.phases.yaml,*.phases.yml,weft.yaml,weft.yml}';

const NAME = /(?:\.workflow\.ya?ml|\.plan\.(?:ya?ml|json)|\.phases\.ya?ml)$|^weft\.ya?ml$/;

/** A top-level `workflow_id:`, `plan_id:` or `phases:` key (optionally quoted), at the start of a line. */
const TOP_LEVEL_KEY = /^["']?(?:workflow_id|plan_id|phases)["']?[ \t]*:/m;

/** How much of a document is looked at for the keys: the keys of real files come early. */
const CONTENT_LIMIT = 256 * 1024;

export function isWeftFileName(fileName: string): boolean {
  return NAME.test(path.basename(fileName));
}

export function hasWeftKeys(text: string): boolean {
  return TOP_LEVEL_KEY.test(text.length > CONTENT_LIMIT ? text.slice(0, CONTENT_LIMIT) : text);
}

/** The parts of a TextDocument this module needs, so tests can pass plain objects. */
export interface DocumentLike {
  uri: { scheme: string };
  fileName: string;
  languageId: string;
  getText(): string;
}

export function isWeftDocument(document: DocumentLike): boolean {
  if (document.uri.scheme !== 'file') {
    return false;
  }
  if (isWeftFileName(document.fileName)) {
    return true;
  }
  return document.languageId === 'yaml' && hasWeftKeys(document.getText());
}

/**
 * The documents the client looks at. Every YAML file matches here; the middleware in client.ts then
 * forwards only the weft ones (by name or by content) to the server.
 */
export const DOCUMENT_SELECTOR: DocumentSelector = [
  ...NAME_PATTERNS.map((pattern) => ({ scheme: 'file', pattern })),
  { scheme: 'file', language: 'yaml' },
];
