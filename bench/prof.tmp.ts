import { summariseProfiles } from './lib/profileSummary.js';
console.log(await summariseProfiles(process.argv[2]!));
