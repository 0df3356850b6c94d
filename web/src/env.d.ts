// Replaced by the build (web/build.ts) with the package version.
declare const FERRY_VERSION: string;
