/** The pages' only stylesheet, served from `/assets/sandbox.css` (the CSP allows no inline style). */
export const SANDBOX_CSS = `
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1d2330;
  background: #f3f4f7;
}
.banner {
  margin: 0;
  padding: .6rem 1rem;
  text-align: center;
  font-weight: 600;
  color: #3d2e00;
  background: #ffd23f;
  border-bottom: 2px dashed #3d2e00;
}
main { max-width: 30rem; margin: 1.5rem auto; padding: 0 1rem; }
.card {
  padding: 1.25rem;
  background: #fff;
  border-radius: .75rem;
  box-shadow: 0 1px 3px rgba(0, 0, 0, .12);
}
h1 { margin: 0 0 .75rem; font-size: 1.4rem; line-height: 1.25; }
h2 { margin: 1.25rem 0 .5rem; font-size: 1rem; }
p { margin: 0 0 .75rem; }
.muted { color: #5a6275; font-size: .9rem; }
.message { padding: .6rem .8rem; border-radius: .5rem; background: #fde8e8; color: #8a1c1c; }
.users { list-style: none; margin: 0; padding: 0; }
.users li + li { margin-top: .5rem; }
.users form { margin: 0; }
.user { display: block; width: 100%; text-align: left; }
.user small { display: block; font-weight: 400; color: #5a6275; }
.scopes { padding-left: 1.25rem; }
label { display: block; margin-bottom: .35rem; font-weight: 600; }
input[type="text"] {
  width: 100%;
  min-height: 44px;
  padding: .5rem .75rem;
  font: inherit;
  border: 1px solid #b8bfcc;
  border-radius: .5rem;
}
button {
  min-height: 44px;
  padding: .55rem 1rem;
  font: inherit;
  font-weight: 600;
  color: #1d2330;
  background: #e8ebf1;
  border: 1px solid #b8bfcc;
  border-radius: .5rem;
  cursor: pointer;
}
button.primary { color: #fff; background: #2b59c3; border-color: #2b59c3; }
.row { display: flex; gap: .5rem; margin-top: .75rem; }
.row > * { flex: 1; }
code { font-size: .95em; }
`
