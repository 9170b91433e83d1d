import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface GraphQLResponse<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string; [key: string]: unknown } }[];
}

/** A plain GraphQL POST, as any client would send it. */
export async function gql<T = Record<string, unknown>>(baseUrl: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResponse<T>;
}

export const UPLOAD_MUTATION = `mutation Upload($file: Upload!, $title: String) {
  uploadVideo(file: $file, title: $title) { id status title originalFilename sizeBytes sha256 version }
}`;

export interface UploadOptions {
  title?: string;
  filename?: string;
  /** Sent as-is; the default carries Apollo's CSRF preflight header. */
  headers?: Record<string, string>;
}

/** An upload following the GraphQL multipart request spec (operations, map, then the file). */
export async function uploadFile(baseUrl: string, filePath: string, options: UploadOptions = {}): Promise<{ status: number; body: GraphQLResponse<{ uploadVideo: { id: string; status: string; sha256: string; sizeBytes: number; version: number } }> }> {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: UPLOAD_MUTATION, variables: { file: null, title: options.title ?? null } }));
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', new Blob([await readFile(filePath)]), options.filename ?? path.basename(filePath));
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: options.headers ?? { 'apollo-require-preflight': 'true' },
    body: form,
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text) as Awaited<ReturnType<typeof uploadFile>>['body'];
  } catch {
    body = { errors: [{ message: text }] };
  }
  return { status: response.status, body };
}

export const VIDEO_QUERY = `query Video($id: ID!) {
  video(id: $id) {
    id status attempts version title
    lastError { code message retryable attempt }
    media { durationSeconds width height videoCodec audioCodec frameRate rotation }
    renditions { label width height sizeBytes url }
    posterUrl
    history { position version type data metadata recordedAt hash }
  }
}`;
