// APP_URL is where Perkbridge runs: the application_url of shopify.app.toml
// (README.md: replace it for your deployment). The extension calls only
// {APP_URL}/account/api/v1/..., the storefront JSON API's door for customer
// accounts.
export const APP_URL = "https://perkbridge.example.com";
