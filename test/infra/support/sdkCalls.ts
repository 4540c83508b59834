/**
 * The IAM actions a handler needs, read from its code: each `new XCommand(` or `paginateX(` esbuild keeps in
 * the handler's bundle is mapped to the action AWS authorizes it with. A call added without
 * its permission (or a permission left after its call is gone) then fails the infra test, not production.
 */
import { buildSync } from 'esbuild';
import { join } from 'node:path';
import { repoRoot } from './template';

/** Commands whose IAM action is not `<prefix>:<CommandName>`. */
const renamed: Record<string, Record<string, string>> = {
  '@aws-sdk/client-s3': {
    ListObjectsV2: 's3:ListBucket',
    ListObjects: 's3:ListBucket',
    HeadObject: 's3:GetObject',
    GetObject: 's3:GetObject',
    PutObject: 's3:PutObject',
    DeleteObject: 's3:DeleteObject',
  },
  '@aws-sdk/lib-dynamodb': {
    Get: 'dynamodb:GetItem',
    Put: 'dynamodb:PutItem',
    Update: 'dynamodb:UpdateItem',
    Delete: 'dynamodb:DeleteItem',
    Query: 'dynamodb:Query',
    Scan: 'dynamodb:Scan',
    BatchGet: 'dynamodb:BatchGetItem',
    BatchWrite: 'dynamodb:BatchWriteItem',
  },
};
const prefixes: Record<string, string> = {
  '@aws-sdk/client-emr': 'elasticmapreduce',
  '@aws-sdk/client-emr-serverless': 'emr-serverless',
  '@aws-sdk/client-glue': 'glue',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-sfn': 'states',
};

function actionFor(module: string, command: string, file: string): string {
  const action = renamed[module]?.[command] ?? (prefixes[module] ? `${prefixes[module]}:${command}` : undefined);
  if (!action) throw new Error(`${file}: no IAM action known for ${command}Command of ${module}; add it to ${__filename}`);
  return action;
}

/**
 * `import { A, type B, C as D } from 'module'` → local name → the imported name and its module, for every
 * named import. esbuild renames a clashing import (`PutCommand as PutCommand2`), so calls are read by their
 * local name and mapped back to the name the SDK exports.
 */
function importedNames(source: string): Map<string, { module: string; imported: string }> {
  const names = new Map<string, { module: string; imported: string }>();
  for (const [, list, module] of source.matchAll(/import\s*\{([^}]*)\}\s*from\s*['"]([^'"]+)['"]/g)) {
    for (const specifier of list.split(',')) {
      const [imported, local = imported] = specifier
        .replace(/^\s*type\s+/, '')
        .split(/\s+as\s+/)
        .map((name) => name.trim());
      if (imported) names.set(local, { module, imported });
    }
  }
  return names;
}

/**
 * The sorted IAM actions of the SDK commands a handler can send. The handler is bundled as an ES module with
 * packages left external, so esbuild drops the project code it never reaches (a helper module's unused
 * calls do not count) and the SDK imports stay readable.
 */
export function sdkActions(handlerFile: string): string[] {
  const code = bundledCode(handlerFile);
  const imports = importedNames(code);
  const actions = new Set<string>();
  for (const [, local] of code.matchAll(/new\s+(\w+)\s*\(/g)) {
    const imported = imports.get(local);
    const command = imported && /^(\w+)Command$/.exec(imported.imported)?.[1];
    if (command) actions.add(actionFor(imported.module, command, handlerFile));
  }
  // A paginator sends its command page by page: `paginateQuery(` is `new QueryCommand(` as IAM sees it.
  for (const [, local] of code.matchAll(/\b(\w+)\s*\(/g)) {
    const imported = imports.get(local);
    const command = imported && /^paginate(\w+)$/.exec(imported.imported)?.[1];
    if (command) actions.add(actionFor(imported.module, command, handlerFile));
  }
  return [...actions].sort();
}

/** The handler bundled as an ES module with packages left external (project code it never reaches dropped). */
export function bundledCode(handlerFile: string): string {
  const { outputFiles } = buildSync({
    entryPoints: [join(repoRoot, handlerFile)],
    absWorkingDir: repoRoot,
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    packages: 'external',
    logLevel: 'silent',
  });
  return outputFiles[0].text;
}
