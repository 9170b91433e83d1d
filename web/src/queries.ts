/** Every GraphQL operation the page sends: the public contract (schema/schema.graphql), nothing private. */

export type VideoStatus = 'UPLOADING' | 'QUEUED' | 'PROCESSING' | 'RETRYING' | 'PROCESSED' | 'FAILED';
export const STATUSES: readonly VideoStatus[] = ['UPLOADING', 'QUEUED', 'PROCESSING', 'RETRYING', 'PROCESSED', 'FAILED'];

export interface VideoSummary {
  id: string;
  status: VideoStatus;
  title: string | null;
  originalFilename: string;
  sizeBytes: number;
  attempts: number;
  progress: number | null;
  uploadedAt: string;
  version: number;
  lastError: { code: string; message: string; retryable: boolean; attempt: number } | null;
}

export interface VideoDetail extends VideoSummary {
  sha256: string;
  posterUrl: string | null;
  media: { durationSeconds: number; width: number; height: number; videoCodec: string; audioCodec: string | null; frameRate: number | null; rotation: number | null } | null;
  renditions: { label: string; width: number; height: number; sizeBytes: number; url: string }[];
  /** Present once the API has adaptive streaming (DESIGN §10). */
  streaming?: { hlsUrl: string } | null;
  history: { position: string; version: number; type: string; metadata: Record<string, unknown>; recordedAt: string; hash: string }[];
}

export interface Page {
  edges: { cursor: string; node: VideoSummary }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const SUMMARY = 'id status title originalFilename sizeBytes attempts progress uploadedAt version lastError { code message retryable attempt }';
const DETAIL = `${SUMMARY} sha256 posterUrl media { durationSeconds width height videoCodec audioCodec frameRate rotation }
  renditions { label width height sizeBytes url } history { position version type metadata recordedAt hash }`;

export const ME = 'query Me { me { name role } }';
export const VIDEOS = `query Videos($status: VideoStatus, $first: Int, $after: String) {
  videos(status: $status, first: $first, after: $after) { edges { cursor node { ${SUMMARY} } } pageInfo { hasNextPage endCursor } }
}`;
export const VIDEO = `query Video($id: ID!) { video(id: $id) { ${DETAIL} streaming { hlsUrl } } }`;
/** VIDEO for an API without adaptive streaming (its schema has no Video.streaming). */
export const VIDEO_WITHOUT_STREAMING = `query Video($id: ID!) { video(id: $id) { ${DETAIL} } }`;
export const AUDIT = `query Audit($id: ID!) { audit(streamId: $id) { ok streamsChecked eventsChecked mismatches { position kind detail } } }`;
/** Opens a resumable upload: the bytes then go over tus to uploadUrl (README, Resumable uploads). */
export const CREATE_UPLOAD = `mutation CreateUpload($filename: String!, $sizeBytes: Float!, $title: String) {
  createUpload(filename: $filename, sizeBytes: $sizeBytes, title: $title) { uploadUrl expiresAt video { ${SUMMARY} } }
}`;
export const VIDEO_SUMMARY = `query VideoSummary($id: ID!) { video(id: $id) { ${SUMMARY} } }`;
export const RETRY = `mutation Retry($id: ID!) { retryVideo(id: $id) { ${SUMMARY} } }`;
export const UPDATES = `subscription Updates($id: ID) { videoUpdated(id: $id) { ${SUMMARY} } }`;

export interface Me {
  name: string;
  role: 'viewer' | 'uploader' | 'admin';
}
export interface AuditReport {
  ok: boolean;
  streamsChecked: number;
  eventsChecked: number;
  mismatches: { position: string | null; kind: string; detail: string }[];
}

export const canWrite = (me: Me): boolean => me.role === 'uploader' || me.role === 'admin';
