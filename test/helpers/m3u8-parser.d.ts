// The parts of m3u8-parser (video.js's HLS playlist parser, untyped) that the playlist tests read.
declare module 'm3u8-parser' {
  export interface ParsedSegment {
    duration: number;
    uri: string;
    map?: { uri: string };
  }
  export interface ParsedVariant {
    uri: string;
    attributes: {
      BANDWIDTH?: number;
      'AVERAGE-BANDWIDTH'?: string;
      CODECS?: string;
      RESOLUTION?: { width: number; height: number };
      'FRAME-RATE'?: number;
      AUDIO?: string;
    };
  }
  export interface ParsedManifest {
    playlists?: ParsedVariant[];
    segments: ParsedSegment[];
    mediaGroups?: { AUDIO?: Record<string, Record<string, { uri?: string; default?: boolean }>> };
    independentSegments?: boolean;
    playlistType?: string;
    endList?: boolean;
    targetDuration?: number;
  }
  export class Parser {
    push(chunk: string): void;
    end(): void;
    manifest: ParsedManifest;
  }
}
