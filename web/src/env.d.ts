// Vite's asset imports: `?url` gives the emitted file's URL.
declare module '*?url' {
  const url: string;
  export default url;
}
declare module '*.css';
