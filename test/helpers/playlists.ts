import { Parser, type ParsedManifest } from 'm3u8-parser';

/** Parses an HLS playlist with m3u8-parser (video.js's), a parser other than the code under test. */
export function parseM3u8(text: string): ParsedManifest {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  return parser.manifest;
}
